"""Policy test cases (`rules/tests/*.yaml`): a dispute, its context and an event, and the
decision policy staff expect. Run by `fengqiao rules test`, through both evaluators.

    defaults:                       # merged under every case's dispute
      dispute: {category: other, summary: 测试, …}
      at: "2026-11-23T09:00:00+08:00"
    cases:
      - name: 广场舞噪音就地化解
        sample: 01-square-dance-noise.json      # or dispute: {…} (amount in yuan)
        context: {level: local, times_escalated: 1, similar_recent: 0}
        event: mediation_failed                # default: a new submission
        expect: {route: local, rule: neighbour-and-property, deadline: {days: 3},
                 priority: normal, handler: …, notify: [police_station], reason_contains: 噪音}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from fengqiao.domain.errors import InvalidArgument
from fengqiao.domain.model import Decision, Dispute, Location, Party, PolicyContext, Route
from fengqiao.domain.validation import validate_dispute
from fengqiao.domain.vocabulary import SUBMITTED, TRIGGERS
from fengqiao.policy.check import PolicyChecker
from fengqiao.policy.check_shapes import yuan_to_fen
from fengqiao.policy.compiled import CompiledPolicy
from fengqiao.policy.deadlines import CHINA, due
from fengqiao.policy.problems import PolicyError, Problem
from fengqiao.policy.yaml_safe import position, read_yaml

_CASE_KEYS = ("name", "sample", "dispute", "context", "event", "at", "expect")
_EXPECT_KEYS = ("route", "rule", "priority", "handler", "deadline", "notify", "reason_contains")
_CONTEXT_KEYS = ("level", "times_escalated", "similar_recent", "party_recent")


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    source: str
    line: int
    dispute: Dispute
    context: PolicyContext
    trigger: str
    at: datetime
    expect: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One way a case's decision is not what it expects: the `aspect` compared (an
    `expect` key, or `evaluators` when the two evaluators disagree), both values as codes,
    and the line `rules test` prints (`str`)."""

    aspect: str
    expected: str
    actual: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    rule_id: str
    failures: tuple[Mismatch, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(paths: Iterable[Path], samples: Path) -> list[Case]:
    """Every case in `paths`; `sample:` names a file in `samples`. Raises `PolicyError`."""
    out: list[Case] = []
    for path in paths:
        out.extend(_CaseReader(path, samples).cases())
    return out


def run_cases(compiled: CompiledPolicy, cases: Iterable[Case]) -> list[CaseResult]:
    return [_run(compiled, case) for case in cases]


def uncovered(compiled: CompiledPolicy, results: Iterable[CaseResult]) -> list[str]:
    """Ids of the rules no case ended on."""
    hit = {r.rule_id for r in results}
    return [r.id for r in compiled.policy.all_rules() if r.id not in hit]


def _run(compiled: CompiledPolicy, case: Case) -> CaseResult:
    engine = compiled.decide(case.dispute, case.context, case.at, case.trigger)
    explained, _ = compiled.explain(case.dispute, case.context, case.at, case.trigger)
    failures = []
    if engine != explained:
        failures.append(
            Mismatch(
                "evaluators",
                explained.rule_id,
                engine.rule_id,
                f"两种求值结果不一致（evaluators disagree）：durable_rules {engine.rule_id}，"
                f"explain {explained.rule_id}",
            )
        )
    failures += _compare(case.expect, engine, case.at)
    return CaseResult(case, engine.rule_id, tuple(failures))


def _compare(expect: Mapping[str, Any], got: Decision, at: datetime) -> list[Mismatch]:
    out = []

    def check(aspect: str, what: str, wanted: object, actual: object) -> None:
        if wanted != actual:
            out.append(
                Mismatch(
                    aspect,
                    str(wanted),
                    str(actual),
                    f"{what}：期望 {wanted}，实际 {actual}（expected {wanted}, got {actual}）",
                )
            )

    if "route" in expect:
        check("route", "去向 route", expect["route"], got.route.value)
    if "rule" in expect:
        check("rule", "规则 rule", expect["rule"], got.rule_id)
    if "priority" in expect:
        check("priority", "优先级 priority", expect["priority"], got.priority.value)
    if "handler" in expect:
        check("handler", "处置对象 handler", expect["handler"], got.handler)
    if "deadline" in expect:
        wanted = expect["deadline"]
        deadline = wanted if isinstance(wanted, datetime) else due(at, wanted)
        check("deadline", "期限 deadline", deadline.astimezone(CHINA).isoformat(),
              got.deadline.astimezone(CHINA).isoformat())  # fmt: skip
    told = ", ".join(got.notify)
    for role in expect.get("notify", ()):
        if role not in got.notify:
            out.append(
                Mismatch(
                    "notify",
                    role,
                    told,
                    f"通知 notify：缺少 {role}（{role} is not told; told: {told}）",
                )
            )
    if "reason_contains" in expect and expect["reason_contains"] not in got.reason:
        wanted = expect["reason_contains"]
        out.append(
            Mismatch(
                "reason_contains", wanted, got.reason, f"理由 reason 中没有“{wanted}”：{got.reason}"
            )
        )
    return out


class _CaseReader:
    """Reads one case file, reporting problems at `file:line:column` like the policy."""

    def __init__(self, path: Path, samples: Path) -> None:
        self.path = path
        self.samples = samples
        self.checker = PolicyChecker()

    def fail(self, where: tuple[int, int], zh: str, en: str) -> None:
        self.checker.add(where, zh, en)

    def cases(self) -> list[Case]:
        source = str(self.path)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise PolicyError(
                source, [Problem(1, 1, f"无法读取用例文件：{exc.strerror}", str(exc))]
            ) from exc
        doc = read_yaml(data, source)
        if not isinstance(doc, CommentedMap) or not isinstance(doc.get("cases"), CommentedSeq):
            raise PolicyError(
                source,
                [Problem(1, 1, "用例文件应包含 cases 列表", "a case file needs a `cases` list")],
            )
        self.checker.keys(doc, ("defaults", "cases"), ("cases",), "用例文件")
        defaults = self.mapping(doc, "defaults")
        out = [
            c
            for i, item in enumerate(doc["cases"])
            if (c := self.case(doc["cases"], i, item, defaults))
        ]
        if self.checker.problems:
            raise PolicyError(source, self.checker.problems)
        return out

    def case(self, parent: CommentedSeq, index: int, node: Any, defaults: Any) -> Case | None:
        if not isinstance(node, CommentedMap):
            self.fail(position(parent, index), "每个用例应为映射", "each case must be a mapping")
            return None
        before = len(self.checker.problems)
        self.checker.keys(node, _CASE_KEYS, ("name", "expect"), "用例")
        name = self.checker.text(node, "name", "用例名称") if "name" in node else ""
        raw: dict[str, Any] = _plain(self.mapping(defaults, "dispute"))
        if "sample" in node:
            raw = _merge(raw, self.sample(node))
        raw = _merge(raw, _plain(self.mapping(node, "dispute")))
        dispute = self.dispute(node, raw)
        context = self.context(node)
        trigger = self.trigger(node)
        at = self.when(node if "at" in node else defaults, "at")
        expect = self.expect(node)
        if len(self.checker.problems) > before or dispute is None or at is None:
            return None
        return Case(name, str(self.path), position(node)[0], dispute, context, trigger, at, expect)

    def mapping(self, node: CommentedMap, key: str) -> CommentedMap:
        """`node[key]` if it is a mapping; empty if absent; a problem if anything else."""
        value = node.get(key)
        if value is None:
            return CommentedMap()
        if not isinstance(value, CommentedMap):
            self.fail(position(node, key), f"{key} 应为映射", f"{key} must be a mapping")
            return CommentedMap()
        return value

    def sample(self, node: CommentedMap) -> dict[str, Any]:
        path = self.samples / str(node["sample"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.fail(
                position(node, "sample"),
                f"无法读取样例 {path}",
                f"cannot read sample {path}: {exc}",
            )
            return {}
        dispute = data.get("dispute", data) if isinstance(data, dict) else None
        if not isinstance(dispute, dict):
            self.fail(position(node, "sample"), f"样例 {path} 不是纠纷", f"{path} is not a dispute")
            return {}
        return dispute

    def dispute(self, node: CommentedMap, raw: Mapping[str, Any]) -> Dispute | None:
        where = position(node, "dispute" if "dispute" in node else "sample")
        try:
            amount = raw.get("amount_fen", 0)
            if "amount" in raw:
                amount = yuan_to_fen(raw["amount"])
                if amount is None:
                    raise ValueError("amount must be yuan ≥ 0")
            loc = raw.get("location", {})
            dispute = Dispute(
                id="FQ-00000000-0000000000",
                category=str(raw.get("category", "")),
                summary=str(raw.get("summary", "")),
                parties=tuple(
                    Party(
                        name=str(p.get("name", "")),
                        role=str(p.get("role", "")),
                        phone=str(p.get("phone", "")),
                    )
                    for p in raw.get("parties", ())
                ),
                location=Location(
                    **{
                        k: str(loc.get(k, ""))
                        for k in ("district", "street", "community", "grid", "address")
                    }
                ),
                amount_fen=int(amount),
                channel=str(raw.get("channel", "")),
                risk_flags=tuple(str(f) for f in raw.get("risk_flags", ())),
                court_mediation_consent=bool(raw.get("court_mediation_consent", False)),
            )
            validate_dispute(dispute)
        except InvalidArgument as exc:
            problems = "; ".join(f"{v.field}: {v.description}" for v in exc.violations)
            self.fail(
                where,
                f"用例中的纠纷不合法：{problems}",
                f"the case's dispute is invalid: {problems}",
            )
            return None
        except (TypeError, ValueError, AttributeError) as exc:
            self.fail(
                where, f"用例中的纠纷格式不对：{exc}", f"the case's dispute is malformed: {exc}"
            )
            return None
        return dispute

    def context(self, node: CommentedMap) -> PolicyContext:
        ctx = node.get("context") or CommentedMap()
        if not isinstance(ctx, CommentedMap):
            self.fail(position(node, "context"), "context 应为映射", "context must be a mapping")
            return PolicyContext()
        self.checker.keys(ctx, _CONTEXT_KEYS, (), "context")
        level = ctx.get("level", "new")
        routes = {r.value for r in Route}
        if level != "new" and level not in routes:
            self.fail(
                position(ctx, "level"),
                f"未知的层级 {level!r}",
                f"unknown level {level!r}; use new, {', '.join(routes)}",
            )
        counts = {k: ctx.get(k, 0) for k in _CONTEXT_KEYS[1:]}
        for key, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self.fail(
                    position(ctx, key), f"{key} 应为非负整数", f"{key} must be a whole number ≥ 0"
                )
        return PolicyContext(
            current_level=Route(level) if level in routes else None,
            times_escalated=int(counts["times_escalated"])
            if isinstance(counts["times_escalated"], int)
            else 0,
            similar_recent=int(counts["similar_recent"])
            if isinstance(counts["similar_recent"], int)
            else 0,
            party_recent=int(counts["party_recent"])
            if isinstance(counts["party_recent"], int)
            else 0,
        )

    def trigger(self, node: CommentedMap) -> str:
        if "event" not in node:
            return SUBMITTED
        return (
            self.checker.code(node, "event", node["event"], TRIGGERS, zh="触发事件", en="event")
            or SUBMITTED
        )

    def when(self, node: Any, key: str) -> datetime | None:
        value = node.get(key) if isinstance(node, CommentedMap) else None
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                position(node, key) if isinstance(node, CommentedMap) else (1, 1),
                "时间应带时区，例如 2026-11-23T09:00:00+08:00（at 可写在 defaults 中）",
                "a time with its zone is needed, e.g. 2026-11-23T09:00:00+08:00 "
                "(`at` may be given in defaults)",
            )
            return None
        if at.tzinfo is None:
            self.fail(
                position(node, key),
                "at 须带时区，例如 +08:00",
                "`at` needs a time zone, e.g. +08:00",
            )
            return None
        return at

    def expect(self, node: CommentedMap) -> dict[str, Any]:
        expect = node.get("expect")
        if not isinstance(expect, CommentedMap) or not expect:
            self.fail(
                position(node, "expect"),
                "expect 应写明期望的去向、规则等",
                "expect must say what is expected",
            )
            return {}
        self.checker.keys(expect, _EXPECT_KEYS, (), "expect")
        out: dict[str, Any] = {
            k: str(v)
            for k, v in expect.items()
            if k in ("route", "rule", "priority", "handler", "reason_contains")
        }
        if "route" in expect:
            self.checker.code(
                expect,
                "route",
                expect["route"],
                [r.value for r in Route],
                zh="分流去向",
                en="route",
            )
        if "notify" in expect:
            out["notify"] = self.checker.roles(expect, "notify")
        if "deadline" in expect:
            value = expect["deadline"]
            if isinstance(value, CommentedMap):
                out["deadline"] = self.checker.deadline(expect, "deadline")
            else:
                out["deadline"] = self.when(expect, "deadline")
        return out


def _plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
