"""Read a rules file: refuse hostile YAML, check every field, and build a `Policy`.

All problems found are reported together, each at `file:line:column`. Nothing in the
file is ever executed: it is plain data read with a YAML loader that builds no objects.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import string
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.model import Priority, Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES
from fengqiao.policy.conditions import MULTI_VALUE_OPS, OPS_BY_KIND, Condition, Op, Scalar
from fengqiao.policy.facts import FACTS, FactSpec, Kind
from fengqiao.policy.model import Deadline, DeadlineUnit, Policy, RouteSpec, Rule
from fengqiao.policy.problems import PolicyError, Problem

# durable_rules fails at 512 rules and hangs beyond; keep a wide margin.
MAX_RULES: Final = 400
MAX_FILE_BYTES: Final = 1_000_000
MAX_DEPTH: Final = 12
MAX_DEADLINE: Final = {
    DeadlineUnit.HOURS: 45 * 24,
    DeadlineUnit.DAYS: 45,
    DeadlineUnit.WORKING_DAYS: 45,
}
REASON_FIELDS: Final = frozenset(
    {
        "category",
        "amount",
        "risk_flags",
        "parties",
        "route",
        "handler",
        "deadline",
        "street",
        "community",
        "grid",
        "level",
        "times_escalated",
        "similar_recent",
    }
)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOP_KEYS = ("version", "routes", "rules")
_ROUTE_KEYS = ("label", "deadline", "handler", "notify")
_RULE_KEYS = ("id", "title", "when", "route", "priority", "deadline", "handler", "notify", "reason")


def load_policy(path: Path | str) -> Policy:
    """Read and check the rules file at `path`; raise `PolicyError` listing every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            str(path), [Problem(1, 1, f"无法读取规则文件：{exc.strerror}", f"cannot read: {exc}")]
        ) from exc
    return parse_policy(data, str(path))


def parse_policy(data: bytes, source: str) -> Policy:
    """Check the bytes of a rules file named `source`; raise `PolicyError` or return a `Policy`."""
    version = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(
            source,
            [
                Problem(
                    1,
                    1,
                    f"规则文件超过 {MAX_FILE_BYTES} 字节，请拆分或精简",
                    f"the file is larger than {MAX_FILE_BYTES} bytes",
                )
            ],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            source, [Problem(1, 1, "规则文件须为 UTF-8 编码", f"the file is not UTF-8: {exc}")]
        ) from exc
    doc = _parse_yaml(text, source)
    checker = _Checker()
    policy = checker.policy(doc, version, source)
    if checker.problems or policy is None:
        raise PolicyError(source, checker.problems)
    return policy


def _parse_yaml(text: str, source: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        depth = 0
        # Scan events first: refuses aliases (alias bombs) and deep nesting before any
        # object is built, so a hostile file costs one linear pass.
        for event in yaml.parse(text):
            mark = event.start_mark
            if isinstance(event, AliasEvent):
                raise PolicyError(
                    source,
                    [
                        Problem(
                            mark.line + 1,
                            mark.column + 1,
                            "规则文件不允许使用 YAML 锚点引用（*别名），请直接写出内容",
                            "YAML aliases are not allowed; write the value out",
                        )
                    ],
                )
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise PolicyError(
                        source,
                        [
                            Problem(
                                mark.line + 1,
                                mark.column + 1,
                                f"嵌套超过 {MAX_DEPTH} 层",
                                f"nesting deeper than {MAX_DEPTH}",
                            )
                        ],
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(
            source,
            [Problem(line, col, f"YAML 语法错误：{problem}", f"YAML syntax error: {problem}")],
        ) from exc


def _suggest(word: str, choices: Iterable[str]) -> tuple[str, str]:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"，是否应为 {close[0]}？", f"; did you mean {close[0]!r}?"
    return "", ""


def _pos(node: Any, key: object = None) -> tuple[int, int]:
    """1-based position of `node[key]` (or of the key itself for mappings), else of `node`."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            line, col = node.lc.key(key)
        elif key is not None and isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        else:
            line, col = node.lc.line, node.lc.col
    except (AttributeError, KeyError, IndexError, TypeError):
        return 1, 1
    return line + 1, col + 1


class _Checker:
    """Walks the parsed document once, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: tuple[int, int], zh: str, en: str) -> None:
        self.problems.append(Problem(where[0], where[1], zh, en))

    def policy(self, doc: Any, version: str, source: str) -> Policy | None:
        if not isinstance(doc, CommentedMap):
            self.add(
                (1, 1),
                "规则文件顶层应为映射（version、routes、rules）",
                "the top level must be a mapping with version, routes and rules",
            )
            return None
        self.keys(doc, _TOP_KEYS, _TOP_KEYS, "规则文件")
        label = self.text(doc, "version", "版本标签") if "version" in doc else ""
        routes = self.routes(doc.get("routes"), _pos(doc, "routes"))
        rules = self.rules(doc.get("rules"), _pos(doc, "rules"), set(routes))
        if self.problems:
            return None
        return Policy(label=label, version=version, source=source, routes=routes, rules=rules)

    # -- generic shapes --------------------------------------------------------------

    def keys(
        self, node: CommentedMap, allowed: Iterable[str], required: Iterable[str], where: str
    ) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                zh, en = _suggest(str(key), allowed)
                self.add(
                    _pos(node, key),
                    f"{where}中有未知字段 {key!r}{zh}",
                    f"unknown field {key!r} in {where}{en}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in node:
                self.add(
                    _pos(node),
                    f"{where}缺少必填字段 {key!r}",
                    f"{where} is missing the required field {key!r}",
                )

    def text(self, node: CommentedMap, key: str, zh: str) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(_pos(node, key), f"{zh}（{key}）应为非空文字", f"{key} must be non-empty text")
            return ""
        return str(value)

    def role(self, node: Any, key: object, value: Any) -> str:
        if isinstance(value, str) and value in RECIPIENT_ROLES:
            return value
        zh, en = _suggest(str(value), RECIPIENT_ROLES)
        self.add(
            _pos(node, key),
            f"未知的处置/通知对象 {value!r}{zh}",
            f"unknown recipient role {value!r}{en}; use one of: {', '.join(RECIPIENT_ROLES)}",
        )
        return ""

    def roles(self, node: CommentedMap, key: str) -> tuple[str, ...]:
        value = node.get(key)
        if not isinstance(value, CommentedSeq):
            self.add(
                _pos(node, key),
                f"{key} 应为列表，例如 [grid_worker, party]",
                f"{key} must be a list, e.g. [grid_worker, party]",
            )
            return ()
        return tuple(r for i, item in enumerate(value) if (r := self.role(value, i, item)))

    def deadline(self, node: CommentedMap, key: str) -> Deadline | None:
        value = node.get(key)
        units = [u.value for u in DeadlineUnit]
        if not isinstance(value, CommentedMap) or len(value) != 1:
            self.add(
                _pos(node, key),
                "期限应写成一项，例如 {working_days: 5}、{days: 7} 或 {hours: 24}",
                "a deadline is one of {hours: N}, {days: N}, {working_days: N}",
            )
            return None
        ((unit, amount),) = value.items()
        if unit not in units:
            zh, en = _suggest(str(unit), units)
            self.add(
                _pos(value, unit),
                f"未知的期限单位 {unit!r}{zh}",
                f"unknown deadline unit {unit!r}{en}; use {', '.join(units)}",
            )
            return None
        limit = MAX_DEADLINE[DeadlineUnit(unit)]
        if not _is_int(amount) or not 0 < amount <= limit:
            self.add(
                _pos(value, unit),
                f"期限应为 1 到 {limit} 之间的整数",
                f"{unit} must be a whole number from 1 to {limit}",
            )
            return None
        return Deadline(int(amount), DeadlineUnit(unit))

    # -- routes ----------------------------------------------------------------------

    def routes(self, node: Any, where: tuple[int, int]) -> dict[Route, RouteSpec]:
        names = [r.value for r in Route]
        if not isinstance(node, CommentedMap):
            self.add(
                where,
                f"routes 应为映射，包含 {'、'.join(names)}",
                f"routes must be a mapping with {', '.join(names)}",
            )
            return {}
        out: dict[Route, RouteSpec] = {}
        for name, spec in node.items():
            if name not in names:
                zh, en = _suggest(str(name), names)
                self.add(
                    _pos(node, name),
                    f"未知的分流去向 {name!r}{zh}",
                    f"unknown route {name!r}{en}; routes are {', '.join(names)}",
                )
                continue
            if not isinstance(spec, CommentedMap):
                self.add(
                    _pos(node, name), f"去向 {name} 应为映射", f"route {name} must be a mapping"
                )
                continue
            self.keys(spec, _ROUTE_KEYS, _ROUTE_KEYS, f"去向 {name} ")
            deadline = self.deadline(spec, "deadline") if "deadline" in spec else None
            route = Route(name)
            out[route] = RouteSpec(
                route=route,
                label=self.text(spec, "label", "名称") if "label" in spec else "",
                deadline=deadline or Deadline(1, DeadlineUnit.DAYS),
                handler=self.role(spec, "handler", spec.get("handler"))
                if "handler" in spec
                else "",
                notify=self.roles(spec, "notify") if "notify" in spec else (),
            )
        for name in names:
            if name not in node:
                self.add(where, f"routes 缺少去向 {name}", f"routes is missing {name}")
        return out

    # -- rules -----------------------------------------------------------------------

    def rules(self, node: Any, where: tuple[int, int], routes: set[Route]) -> tuple[Rule, ...]:
        if not isinstance(node, CommentedSeq) or not node:
            self.add(
                where,
                "rules 应为非空列表，按顺序第一条命中的规则生效",
                "rules must be a non-empty list; the first matching rule wins",
            )
            return ()
        if len(node) > MAX_RULES:
            self.add(
                where,
                f"规则超过 {MAX_RULES} 条，规则引擎无法承载，请合并相近的规则",
                f"more than {MAX_RULES} rules: the rules engine cannot hold them; merge rules",
            )
            return ()
        out: list[Rule] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(node):
            rule_id = item.get("id") if isinstance(item, CommentedMap) else None
            if isinstance(rule_id, str) and rule_id in seen:
                self.add(
                    _pos(item, "id"),
                    f"规则编号 {rule_id} 重复（首次出现在第 {seen[rule_id]} 行）",
                    f"duplicate rule id {rule_id} (first at line {seen[rule_id]})",
                )
            elif isinstance(rule_id, str):
                seen[rule_id] = _pos(item)[0]
            rule = self.rule(node, i, item)
            if rule is not None:
                out.append(rule)
        self.shadowing(node, out)
        return tuple(out)

    def shadowing(self, node: CommentedSeq, rules: list[Rule]) -> None:
        for later_index, later in enumerate(rules):
            for earlier in rules[:later_index]:
                if set(earlier.conditions) <= set(later.conditions):
                    self.add(
                        _pos(node, later_index),
                        f"规则 {later.id} 永远不会生效：前面的规则 {earlier.id}"
                        f"（第 {earlier.line} 行）已涵盖它的全部条件；请调整顺序或删除",
                        f"rule {later.id} can never match: earlier rule {earlier.id} "
                        f"(line {earlier.line}) covers all its conditions; reorder or remove it",
                    )
                    break
        if rules and rules[-1].conditions:
            self.add(
                _pos(node, len(rules) - 1),
                "最后一条规则须为兜底规则（不写 when），保证每件纠纷都有去向",
                "the last rule must be a default rule without `when`, so every dispute is routed",
            )

    def rule(self, parent: CommentedSeq, index: int, node: Any) -> Rule | None:
        if not isinstance(node, CommentedMap):
            self.add(
                _pos(parent, index),
                "每条规则应为映射（id、title、when、route、reason …）",
                "each rule must be a mapping (id, title, when, route, reason …)",
            )
            return None
        before = len(self.problems)
        self.keys(node, _RULE_KEYS, ("id", "title", "route", "reason"), "规则")
        rule_id = node.get("id")
        if "id" in node and not (isinstance(rule_id, str) and _RULE_ID.match(rule_id)):
            self.add(
                _pos(node, "id"),
                "规则编号只能用小写字母、数字、- 和 _，且不超过 64 个字符",
                "rule id must be lowercase letters, digits, - and _ (at most 64)",
            )
        title = self.text(node, "title", "标题") if "title" in node else ""
        route_name = node.get("route")
        if "route" in node and route_name not in {r.value for r in Route}:
            zh, en = _suggest(str(route_name), [r.value for r in Route])
            self.add(
                _pos(node, "route"),
                f"未知的分流去向 {route_name!r}{zh}",
                f"unknown route {route_name!r}{en}",
            )
        priority = node.get("priority", Priority.NORMAL.value)
        if priority not in {p.value for p in Priority}:
            self.add(
                _pos(node, "priority"),
                "priority 只能是 normal（一般）或 urgent（紧急）",
                "priority must be normal or urgent",
            )
        reason = self.text(node, "reason", "理由") if "reason" in node else ""
        self.reason_fields(node, reason)
        conditions = self.conditions(node)
        deadline = self.deadline(node, "deadline") if "deadline" in node else None
        handler = self.role(node, "handler", node.get("handler")) if "handler" in node else ""
        notify = self.roles(node, "notify") if "notify" in node else ()
        if len(self.problems) > before:
            return None
        return Rule(
            id=str(rule_id),
            title=title,
            conditions=conditions,
            route=Route(route_name),
            priority=Priority(priority),
            reason=reason,
            deadline=deadline,
            handler=handler,
            notify=notify,
            line=_pos(node)[0],
        )

    def reason_fields(self, node: CommentedMap, reason: str) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        except ValueError as exc:
            self.add(
                _pos(node, "reason"),
                f"理由模板的花括号不配对：{exc}",
                f"unbalanced braces in reason: {exc}",
            )
            return
        for field in fields:
            if field not in REASON_FIELDS:
                zh, en = _suggest(field, REASON_FIELDS)
                self.add(
                    _pos(node, "reason"),
                    f"理由模板中的 {{{field}}} 无法填写{zh}",
                    f"unknown placeholder {{{field}}} in reason{en}; "
                    f"use {', '.join(sorted(REASON_FIELDS))}",
                )

    # -- conditions --------------------------------------------------------------------

    def conditions(self, rule: CommentedMap) -> tuple[Condition, ...]:
        if "when" not in rule:
            return ()
        when = rule["when"]
        if not isinstance(when, CommentedMap) or not when:
            self.add(
                _pos(rule, "when"),
                "when 应为非空映射（字段: 条件）；兜底规则请不写 when",
                "when must be a non-empty mapping of field: condition; omit it for a default rule",
            )
            return ()
        out: list[Condition] = []
        for fact, test in when.items():
            spec = FACTS.get(fact)
            if spec is None:
                zh, en = _suggest(str(fact), FACTS)
                self.add(
                    _pos(when, fact),
                    f"未知的条件字段 {fact!r}{zh}",
                    f"unknown field {fact!r}{en}; fields: {', '.join(FACTS)}",
                )
                continue
            out.extend(self.tests(when, fact, spec, test))
        return tuple(out)

    def tests(self, when: CommentedMap, fact: str, spec: FactSpec, test: Any) -> list[Condition]:
        if isinstance(test, CommentedMap):
            pairs: list[tuple[Any, Any, tuple[int, int]]] = [
                (op, value, _pos(test, op)) for op, value in test.items()
            ]
        elif isinstance(test, CommentedSeq):
            op = Op.ANY_OF if spec.kind is Kind.CODES else Op.ONE_OF
            pairs = [(op.value, test, _pos(when, fact))]
        else:
            op = Op.ANY_OF if spec.kind is Kind.CODES else Op.EQUALS
            pairs = [(op.value, [test] if spec.kind is Kind.CODES else test, _pos(when, fact))]
        out: list[Condition] = []
        allowed = sorted(o.value for o in OPS_BY_KIND[spec.kind])
        for op_name, value, where in pairs:
            if op_name not in allowed:
                zh, en = _suggest(str(op_name), allowed)
                self.add(
                    where,
                    f"字段 {fact} 不能用条件 {op_name!r}{zh}",
                    f"{fact} does not take {op_name!r}{en}; use {', '.join(allowed)}",
                )
                continue
            op = Op(op_name)
            if op in MULTI_VALUE_OPS:
                items = value if isinstance(value, list) else [value]
                values = [self.value(spec, v, where) for v in items]
                if not items:
                    self.add(
                        where, f"{op_name} 至少要列出一个值", f"{op_name} needs at least one value"
                    )
                if all(v is not None for v in values) and items:
                    out.append(
                        Condition(fact, op, values=tuple(v for v in values if v is not None))
                    )
            else:
                one = self.value(spec, value, where)
                if one is not None:
                    out.append(Condition(fact, op, value=one))
        return out

    def value(self, spec: FactSpec, value: Any, where: tuple[int, int]) -> Scalar | None:
        fact = spec.name
        match spec.kind:
            case Kind.CODE | Kind.CODES:
                assert spec.vocabulary is not None
                if isinstance(value, str) and value in spec.vocabulary:
                    return str(value)
                zh, en = _suggest(str(value), spec.vocabulary)
                self.add(
                    where,
                    f"{spec.label}没有 {value!r} 这一项{zh}",
                    f"{value!r} is not a known {fact}{en}; use {', '.join(spec.vocabulary)}",
                )
            case Kind.TEXT:
                if isinstance(value, str) and value.strip():
                    return str(value)
                self.add(where, f"{spec.label}应为文字", f"{fact} takes text")
            case Kind.FLAG:
                if isinstance(value, bool | ScalarBoolean):
                    return bool(value)
                self.add(where, f"{spec.label}应为 true 或 false", f"{fact} takes true or false")
            case Kind.COUNT:
                if _is_int(value) and value >= 0:
                    return int(value)
                self.add(where, f"{spec.label}应为非负整数", f"{fact} takes a whole number ≥ 0")
            case Kind.MONEY:
                fen = _yuan_to_fen(value)
                if fen is not None:
                    return fen
                self.add(
                    where,
                    f"{spec.label}应为不小于 0 的金额（元，最多两位小数）",
                    f"{fact} takes an amount in yuan ≥ 0 with at most two decimals",
                )
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool | ScalarBoolean)


def _yuan_to_fen(value: Any) -> int | None:
    if isinstance(value, bool | ScalarBoolean) or not isinstance(value, int | float):
        return None
    try:
        fen = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    if fen < 0 or fen != fen.to_integral_value():
        return None
    return int(fen)
