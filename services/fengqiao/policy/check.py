"""Check a parsed rules file field by field and build the `Policy` it describes.

Every problem is collected (not just the first), with its position and a message in
Chinese and English that says what to do.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.model import Priority, Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, SUBMITTED, TRIGGERS
from fengqiao.policy.conditions import (
    DEFAULT_OP,
    MULTI_VALUE_OPS,
    OPS_BY_KIND,
    Condition,
    Op,
    Scalar,
)
from fengqiao.policy.facts import FACTS, PLACE_PARTS, FactSpec, Kind
from fengqiao.policy.model import (
    AmountBand,
    AmountBands,
    Deadline,
    DeadlineRule,
    DeadlineUnit,
    Policy,
    RouteSpec,
    Rule,
    Timing,
)
from fengqiao.policy.problems import Problem
from fengqiao.policy.yaml_safe import Position, position, suggest

# durable_rules fails at 512 rules and hangs beyond; keep a wide margin (routing and
# escalation rules together).
MAX_RULES: Final = 400
MAX_DEADLINE: Final = {
    DeadlineUnit.SECONDS: 45 * 24 * 3600,
    DeadlineUnit.MINUTES: 45 * 24 * 60,
    DeadlineUnit.HOURS: 45 * 24,
    DeadlineUnit.DAYS: 45,
    DeadlineUnit.WORKING_DAYS: 45,
}
REASON_FIELDS: Final = frozenset(
    {name for name, spec in FACTS.items() if spec.kind is not Kind.PROSE}
    | {"route", "handler", "deadline"}
)
# Words searched in the summary go into durable_rules patterns: no pattern characters.
_PATTERN_CHARS = frozenset("^$()%.[]*+-?{}|\\")
MAX_WORD: Final = 32
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOP_KEYS = ("version", "routes", "rules", "escalation", "timing")
_TIMING_KEYS = ("response", "follow_up_after", "repeat_window_days")
MAX_WINDOW_DAYS: Final = 365
_ROUTE_KEYS = ("label", "deadline", "handler", "notify")
_RULE_KEYS = ("id", "title", "when", "route", "priority", "deadline", "handler", "notify", "reason")
_ESCALATION_KEYS = (
    "id",
    "title",
    "on",
    "from",
    "when",
    "to",
    "priority",
    "deadline",
    "handler",
    "notify",
    "reason",
)
ROUTES: Final = tuple(r.value for r in Route)
UNITS: Final = tuple(u.value for u in DeadlineUnit)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool | ScalarBoolean)


def yuan_to_fen(value: Any) -> int | None:
    """Yuan (at most two decimals, ≥ 0) as whole fen, or None."""
    if isinstance(value, bool | ScalarBoolean) or not isinstance(value, int | float):
        return None
    try:
        fen = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    if fen < 0 or fen != fen.to_integral_value():
        return None
    return int(fen)


class PolicyChecker:
    """Walks the parsed document once; `problems` holds everything found."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: Position, zh: str, en: str) -> None:
        self.problems.append(Problem(where[0], where[1], zh, en))

    def policy(self, doc: Any, version: str, source: str) -> Policy | None:
        if not isinstance(doc, CommentedMap):
            self.add(
                (1, 1),
                "规则文件顶层应为映射（version、routes、rules、escalation）",
                "the top level must be a mapping with version, routes, rules, escalation",
            )
            return None
        self.keys(doc, _TOP_KEYS, ("version", "routes", "rules"), "规则文件")
        label = self.text(doc, "version", "版本标签") if "version" in doc else ""
        routes = self.routes(doc.get("routes"), position(doc, "routes"))
        rules = self.rule_list(doc.get("rules"), position(doc, "rules"), escalation=False)
        escalation: tuple[Rule, ...] = ()
        if "escalation" in doc:
            escalation = self.rule_list(doc["escalation"], position(doc, "escalation"), True)
        timing = self.timing(doc["timing"]) if "timing" in doc else Timing()
        if len(rules) + len(escalation) > MAX_RULES:
            self.add(
                position(doc, "rules"),
                f"规则超过 {MAX_RULES} 条，规则引擎无法承载，请合并相近的规则",
                f"more than {MAX_RULES} rules: the rules engine cannot hold them; merge rules",
            )
        if self.problems:
            return None
        return Policy(label, version, source, routes, rules, escalation, timing)

    def timing(self, node: Any) -> Timing:
        if not isinstance(node, CommentedMap):
            self.add(
                position(node),
                "timing 应为映射（response、follow_up_after、repeat_window_days）",
                "timing must be a mapping of response, follow_up_after, repeat_window_days",
            )
            return Timing()
        self.keys(node, _TIMING_KEYS, (), "timing")
        default = Timing()
        window = node.get("repeat_window_days", default.repeat_window_days)
        if not _is_int(window) or not 0 < window <= MAX_WINDOW_DAYS:
            self.add(
                position(node, "repeat_window_days"),
                f"repeat_window_days 应为 1 到 {MAX_WINDOW_DAYS} 之间的天数",
                f"repeat_window_days must be 1 to {MAX_WINDOW_DAYS} days",
            )
            window = default.repeat_window_days
        return Timing(
            response=(self.deadline(node, "response") if "response" in node else None)
            or default.response,
            follow_up_after=(
                self.deadline(node, "follow_up_after") if "follow_up_after" in node else None
            )
            or default.follow_up_after,
            repeat_window_days=int(window),
        )

    # -- shapes ---------------------------------------------------------------------

    def keys(
        self, node: CommentedMap, allowed: Iterable[str], required: Iterable[str], where: str
    ) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                zh, en = suggest(str(key), allowed)
                self.add(
                    position(node, key),
                    f"{where}中有未知字段 {key!r}{zh}",
                    f"unknown field {key!r} in {where}{en}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in node:
                self.add(
                    position(node),
                    f"{where}缺少必填字段 {key!r}",
                    f"{where} is missing the required field {key!r}",
                )

    def text(self, node: CommentedMap, key: str, zh: str) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(
                position(node, key), f"{zh}（{key}）应为非空文字", f"{key} must be non-empty text"
            )
            return ""
        return str(value)

    def code(
        self, node: Any, key: object, value: Any, choices: Iterable[str], *, zh: str, en: str
    ) -> str:
        choices = tuple(choices)
        if isinstance(value, str) and value in choices:
            return value
        szh, sen = suggest(str(value), choices)
        self.add(
            position(node, key),
            f"未知的{zh} {value!r}{szh}",
            f"unknown {en} {value!r}{sen}; use one of: {', '.join(choices)}",
        )
        return ""

    def codes(
        self, node: CommentedMap, key: str, choices: Iterable[str], *, zh: str, en: str
    ) -> tuple[str, ...]:
        value = node.get(key)
        items = value if isinstance(value, CommentedSeq) else [value]
        parent = value if isinstance(value, CommentedSeq) else node
        if isinstance(value, CommentedSeq) and not value:
            self.add(
                position(node, key), f"{key} 至少要列出一项", f"{key} needs at least one value"
            )
        return tuple(
            c
            for i, item in enumerate(items)
            if (c := self.code(parent, i if parent is value else key, item, choices, zh=zh, en=en))
        )

    def handler(self, node: CommentedMap) -> str:
        if "handler" not in node:
            return ""
        return self.code(
            node, "handler", node["handler"], RECIPIENT_ROLES, zh="处置对象", en="recipient role"
        )

    def roles(self, node: CommentedMap, key: str) -> tuple[str, ...]:
        return self.codes(node, key, RECIPIENT_ROLES, zh="处置/通知对象", en="recipient role")

    # -- deadlines --------------------------------------------------------------------

    def deadline_rule(self, node: CommentedMap, key: str) -> DeadlineRule | None:
        value = node.get(key)
        if isinstance(value, CommentedMap) and "by_amount" in value:
            return self.bands(value)
        return self.deadline(node, key)

    def deadline(self, node: Any, key: str | int, extra: tuple[str, ...] = ()) -> Deadline | None:
        value = node[key]
        units = [k for k in value if k not in extra] if isinstance(value, CommentedMap) else []
        if not isinstance(value, CommentedMap) or len(units) != 1:
            self.add(
                position(node, key),
                "期限应写成一项，例如 {working_days: 5}、{days: 7}、{hours: 24}，"
                "或按金额分档 {by_amount: [...]}",
                "a deadline is one of {hours: N}, {days: N}, {working_days: N}, "
                "or {by_amount: [...]}",
            )
            return None
        (unit,) = units
        amount = value[unit]
        if unit not in UNITS:
            zh, en = suggest(str(unit), UNITS)
            self.add(
                position(value, unit),
                f"未知的期限单位 {unit!r}{zh}",
                f"unknown deadline unit {unit!r}{en}; use {', '.join(UNITS)}",
            )
            return None
        limit = MAX_DEADLINE[DeadlineUnit(unit)]
        if not _is_int(amount) or not 0 < amount <= limit:
            self.add(
                position(value, unit),
                f"期限应为 1 到 {limit} 之间的整数（总期限不超过 45 日）",
                f"{unit} must be a whole number from 1 to {limit}",
            )
            return None
        return Deadline(int(amount), DeadlineUnit(unit))

    def bands(self, node: CommentedMap) -> AmountBands | None:
        self.keys(node, ("by_amount",), (), "金额分档期限")
        items = node["by_amount"]
        if not isinstance(items, CommentedSeq) or not items:
            self.add(
                position(node, "by_amount"),
                "by_amount 应为列表，例如 [{below: 10000, days: 1}, {days: 15}]",
                "by_amount must be a list like [{below: 10000, days: 1}, {days: 15}]",
            )
            return None
        bands: list[AmountBand] = []
        before = len(self.problems)
        for i, item in enumerate(items):
            deadline = self.deadline(items, i, extra=("below",))
            last = i == len(items) - 1
            below = item.get("below") if isinstance(item, CommentedMap) else None
            if below is None:
                if not last:
                    self.add(
                        position(items, i),
                        "只有最后一档可以不写 below（其余金额）",
                        "only the last band may leave out `below` (every larger amount)",
                    )
                fen = None
            else:
                fen = yuan_to_fen(below)
                if fen is None or (
                    bands and bands[-1].below_fen is not None and fen <= bands[-1].below_fen
                ):
                    self.add(
                        position(item, "below"),
                        "below 应为递增的金额（元）",
                        "`below` must be amounts in yuan, increasing band by band",
                    )
                if last:
                    self.add(
                        position(items, i),
                        "最后一档不写 below，兜住其余金额",
                        "the last band must leave out `below`, to cover every larger amount",
                    )
            if deadline is not None:
                bands.append(AmountBand(fen, deadline))
        if len(self.problems) > before:
            return None
        return AmountBands(tuple(bands))

    # -- routes ---------------------------------------------------------------------

    def routes(self, node: Any, where: Position) -> dict[Route, RouteSpec]:
        if not isinstance(node, CommentedMap):
            self.add(
                where,
                f"routes 应为映射，包含 {'、'.join(ROUTES)}",
                f"routes must be a mapping with {', '.join(ROUTES)}",
            )
            return {}
        out: dict[Route, RouteSpec] = {}
        for name, spec in node.items():
            if not self.code(node, name, name, ROUTES, zh="分流去向", en="route"):
                continue
            if not isinstance(spec, CommentedMap):
                self.add(
                    position(node, name), f"去向 {name} 应为映射", f"route {name} must be a mapping"
                )
                continue
            self.keys(spec, _ROUTE_KEYS, _ROUTE_KEYS, f"去向 {name} ")
            route = Route(name)
            out[route] = RouteSpec(
                route=route,
                label=self.text(spec, "label", "名称") if "label" in spec else "",
                deadline=(self.deadline_rule(spec, "deadline") if "deadline" in spec else None)
                or Deadline(1, DeadlineUnit.DAYS),
                handler=self.handler(spec),
                notify=self.roles(spec, "notify") if "notify" in spec else (),
            )
        for name in ROUTES:
            if name not in node:
                self.add(where, f"routes 缺少去向 {name}", f"routes is missing {name}")
        return out

    # -- rules ------------------------------------------------------------------------

    def rule_list(self, node: Any, where: Position, escalation: bool) -> tuple[Rule, ...]:
        name = "escalation" if escalation else "rules"
        if not isinstance(node, CommentedSeq) or not node:
            self.add(
                where,
                f"{name} 应为非空列表，按顺序第一条命中的规则生效",
                f"{name} must be a non-empty list; the first matching rule wins",
            )
            return ()
        out: list[Rule] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(node):
            rule_id = item.get("id") if isinstance(item, CommentedMap) else None
            if isinstance(rule_id, str) and rule_id in seen:
                self.add(
                    position(item, "id"),
                    f"规则编号 {rule_id} 重复（首次出现在第 {seen[rule_id]} 行）",
                    f"duplicate rule id {rule_id} (first at line {seen[rule_id]})",
                )
            elif isinstance(rule_id, str):
                seen[rule_id] = position(item)[0]
            rule = self.rule(node, i, item, escalation)
            if rule is not None:
                out.append(rule)
        self.reachability(node, out, name)
        return tuple(out)

    def reachability(self, node: CommentedSeq, rules: list[Rule], name: str) -> None:
        for later_index, later in enumerate(rules):
            for earlier in rules[:later_index]:
                if set(earlier.conditions) <= set(later.conditions):
                    self.add(
                        position(node, later_index),
                        f"规则 {later.id} 永远不会生效：前面的规则 {earlier.id}"
                        f"（第 {earlier.line} 行）已涵盖它的全部条件；请调整顺序或删除",
                        f"rule {later.id} can never match: earlier rule {earlier.id} "
                        f"(line {earlier.line}) covers all its conditions; reorder or remove it",
                    )
                    break
        if rules and rules[-1].conditions:
            self.add(
                position(node, len(rules) - 1),
                f"{name} 的最后一条须为兜底规则（不写条件），保证每件纠纷都有去向",
                f"the last rule of {name} must be a default rule without conditions, "
                "so every dispute has a way forward",
            )

    def rule(self, parent: CommentedSeq, index: int, node: Any, escalation: bool) -> Rule | None:
        if not isinstance(node, CommentedMap):
            self.add(
                position(parent, index),
                "每条规则应为映射（id、title、when、route、reason …）",
                "each rule must be a mapping (id, title, when, route, reason …)",
            )
            return None
        before = len(self.problems)
        target = "to" if escalation else "route"
        if escalation:
            self.keys(node, _ESCALATION_KEYS, ("id", "title", "to", "reason"), "升级规则")
        else:
            self.keys(node, _RULE_KEYS, ("id", "title", "route", "reason"), "规则")
        rule_id = node.get("id")
        if "id" in node and not (isinstance(rule_id, str) and _RULE_ID.match(rule_id)):
            self.add(
                position(node, "id"),
                "规则编号只能用小写字母、数字、- 和 _，且不超过 64 个字符",
                "rule id must be lowercase letters, digits, - and _ (at most 64)",
            )
        title = self.text(node, "title", "标题") if "title" in node else ""
        route = (
            self.code(node, target, node.get(target), ROUTES, zh="分流去向", en="route")
            if target in node
            else ""
        )
        priority = node.get("priority", Priority.NORMAL.value)
        if priority not in {p.value for p in Priority}:
            self.add(
                position(node, "priority"),
                "priority 只能是 normal（一般）或 urgent（紧急）",
                "priority must be normal or urgent",
            )
        reason = self.text(node, "reason", "理由") if "reason" in node else ""
        self.reason_fields(node, reason)
        conditions = self.escalation_conditions(node) if escalation else ()
        conditions += self.conditions(node)
        deadline = self.deadline_rule(node, "deadline") if "deadline" in node else None
        handler = self.handler(node)
        notify = self.roles(node, "notify") if "notify" in node else ()
        if len(self.problems) > before:
            return None
        return Rule(
            id=str(rule_id),
            title=title,
            conditions=conditions,
            route=Route(route),
            priority=Priority(priority),
            reason=reason,
            deadline=deadline,
            handler=handler,
            notify=notify,
            line=position(node)[0],
        )

    def reason_fields(self, node: CommentedMap, reason: str) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        except ValueError as exc:
            self.add(
                position(node, "reason"),
                f"理由模板的花括号不配对：{exc}",
                f"unbalanced braces in reason: {exc}",
            )
            return
        for field in fields:
            if field not in REASON_FIELDS:
                zh, en = suggest(field, REASON_FIELDS)
                self.add(
                    position(node, "reason"),
                    f"理由模板中的 {{{field}}} 无法填写{zh}",
                    f"unknown placeholder {{{field}}} in reason{en}; "
                    f"use {', '.join(sorted(REASON_FIELDS))}",
                )

    def escalation_conditions(self, node: CommentedMap) -> tuple[Condition, ...]:
        """`on:` (which events) and `from:` (which levels) of an escalation rule."""
        out: list[Condition] = []
        if "on" in node:
            events = tuple(t for t in TRIGGERS if t != SUBMITTED)
            on = self.codes(node, "on", events, zh="触发事件", en="trigger")
            if on:
                out.append(Condition("trigger", Op.ONE_OF, values=on))
        if "from" in node:
            levels = self.codes(node, "from", ROUTES, zh="层级", en="level")
            if levels:
                out.append(Condition("level", Op.ONE_OF, values=levels))
        return tuple(out)

    # -- conditions -------------------------------------------------------------------

    def conditions(self, rule: CommentedMap) -> tuple[Condition, ...]:
        if "when" not in rule:
            return ()
        when = rule["when"]
        if not isinstance(when, CommentedMap) or not when:
            self.add(
                position(rule, "when"),
                "when 应为非空映射（字段: 条件）；兜底规则请不写 when",
                "when must be a non-empty mapping of field: condition; omit it for a default rule",
            )
            return ()
        out: list[Condition] = []
        usable = [name for name, spec in FACTS.items() if spec.in_when]
        for fact, test in when.items():
            spec = FACTS.get(fact)
            if spec is None or not spec.in_when:
                zh, en = suggest(str(fact), usable)
                self.add(
                    position(when, fact),
                    f"未知的条件字段 {fact!r}{zh}",
                    f"unknown field {fact!r}{en}; fields: {', '.join(usable)}",
                )
                continue
            out.extend(self.tests(when, fact, spec, test))
        return tuple(out)

    def tests(self, when: CommentedMap, fact: str, spec: FactSpec, test: Any) -> list[Condition]:
        default = DEFAULT_OP.get(spec.kind)
        if isinstance(test, CommentedMap):
            pairs = [(op, value, position(test, op)) for op, value in test.items()]
        elif isinstance(test, CommentedSeq):
            pairs = [((default or Op.ONE_OF).value, test, position(when, fact))]
        else:
            op = default or Op.EQUALS
            pairs = [(op.value, [test] if op in MULTI_VALUE_OPS else test, position(when, fact))]
        out: list[Condition] = []
        allowed = sorted(o.value for o in OPS_BY_KIND[spec.kind])
        for op_name, value, where in pairs:
            if op_name not in allowed:
                zh, en = suggest(str(op_name), allowed)
                self.add(
                    where,
                    f"字段 {fact} 不能用条件 {op_name!r}{zh}",
                    f"{fact} does not take {op_name!r}{en}; use {', '.join(allowed)}",
                )
                continue
            op = Op(op_name)
            if op in MULTI_VALUE_OPS:
                items = list(value) if isinstance(value, list) else [value]
                if not items:
                    self.add(
                        where, f"{op_name} 至少要列出一个值", f"{op_name} needs at least one value"
                    )
                    continue
                values = [self.value(spec, v, where) for v in items]
                if all(v is not None for v in values):
                    out.append(
                        Condition(fact, op, values=tuple(v for v in values if v is not None))
                    )
            else:
                one = self.value(spec, value, where)
                if one is not None:
                    out.append(Condition(fact, op, value=one))
        return out

    def value(  # noqa: PLR0912  # one arm per kind of fact
        self, spec: FactSpec, value: Any, where: Position
    ) -> Scalar | None:
        fact = spec.name
        match spec.kind:
            case Kind.CODE | Kind.CODES:
                assert spec.vocabulary is not None
                if isinstance(value, str) and value in spec.vocabulary:
                    return str(value)
                zh, en = suggest(str(value), spec.vocabulary)
                self.add(
                    where,
                    f"{spec.label}没有 {value!r} 这一项{zh}",
                    f"{value!r} is not a known {fact}{en}; use {', '.join(spec.vocabulary)}",
                )
            case Kind.TEXT:
                if isinstance(value, str) and value.strip() and "/" not in value:
                    return str(value)
                self.add(where, f"{spec.label}应为不含“/”的文字", f"{fact} takes text without '/'")
            case Kind.PROSE:
                if (
                    isinstance(value, str)
                    and 0 < len(value.strip()) <= MAX_WORD
                    and not _PATTERN_CHARS & set(value)
                ):
                    return str(value)
                self.add(
                    where,
                    f"要查找的词应为 1 到 {MAX_WORD} 个字，"
                    f"不含符号 {''.join(sorted(_PATTERN_CHARS))}",
                    f"a word to look for is 1 to {MAX_WORD} characters without "
                    f"{''.join(sorted(_PATTERN_CHARS))}",
                )
            case Kind.PLACE:
                parts = value.split("/") if isinstance(value, str) else []
                if 0 < len(parts) <= len(PLACE_PARTS) and all(p.strip() == p and p for p in parts):
                    return str(value)
                self.add(
                    where,
                    "发生地写作 区县/街道/社区/网格，可只写前几级，例如 甘州区/东街街道",
                    "a place is district/street/community/grid or a prefix, e.g. 甘州区/东街街道",
                )
            case Kind.FLAG:
                if isinstance(value, bool | ScalarBoolean):
                    return bool(value)
                self.add(where, f"{spec.label}应为 true 或 false", f"{fact} takes true or false")
            case Kind.COUNT:
                if _is_int(value) and value >= 0:
                    return int(value)
                self.add(where, f"{spec.label}应为非负整数", f"{fact} takes a whole number ≥ 0")
            case Kind.MONEY:
                fen = yuan_to_fen(value)
                if fen is not None:
                    return fen
                self.add(
                    where,
                    f"{spec.label}应为不小于 0 的金额（元，最多两位小数）",
                    f"{fact} takes an amount in yuan ≥ 0 with at most two decimals",
                )
        return None
