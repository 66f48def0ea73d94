"""Warnings about a policy that loads but may not do what its writers mean: escalation
suppressed by order, and rungs of the ladder with no way up. Pure.

Unlike the problems `check` refuses a file for, a warning names a risk a person should
look at. Each one about order is backed by an example dispute built from the rules'
own conditions and decided by the plain evaluator, so it is never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import Priority, Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, SUBMITTED, TRIGGERS
from fengqiao.policy.conditions import Condition, Op
from fengqiao.policy.explain import first_match
from fengqiao.policy.facts import FACTS, NEW_LEVEL, PLACE_PARTS, FactValue, Kind, describe_value
from fengqiao.policy.model import Policy, Rule

# The handler at the top of the ladder: the street leader owns the case (包案).
TOP_HANDLER: Final = "street_leader"
# Events that say the rung a dispute is on did not settle it.
FAILURES: Final = tuple(
    k.value
    for k in (
        EventKind.MEDIATION_FAILED,
        EventKind.DEADLINE_EXPIRED,
        EventKind.RESPONSE_EXPIRED,
        EventKind.ESCALATION_REQUESTED,
        EventKind.REPEAT_COMPLAINT,
    )
)
_RANK: Final = {Route.LOCAL: 0, Route.STREET_OFFICE: 1, Route.COURT_FAST_TRACK: 2}
_RISK_FACTS: Final = frozenset({"risk_flags", "summary"})
_PRIORITY_ZH: Final = {Priority.URGENT: "紧急", Priority.NORMAL: "一般"}


@dataclass(frozen=True, slots=True)
class Finding:
    """A warning at `line` of the rules file, in Chinese and English."""

    line: int
    zh: str
    en: str


def lint(policy: Policy) -> list[Finding]:
    """Every warning about `policy`, in file order."""
    found = suppressed(policy.rules, policy) + suppressed(policy.escalation, policy)
    found += no_way_up(policy)
    return sorted(found, key=lambda f: f.line)


# -- escalation suppressed by order -----------------------------------------------------


def is_risk_rule(rule: Rule) -> bool:
    """An urgent rule that reads risk: flags, danger words, or a `risk_raised` event."""
    return rule.priority is Priority.URGENT and any(
        c.fact in _RISK_FACTS or (c.fact == "trigger" and EventKind.RISK_RAISED in c.values)
        for c in rule.conditions
    )


def suppressed(rules: Sequence[Rule], policy: Policy) -> list[Finding]:
    """A rule placed above a risk rule that takes some dispute the risk rule would send
    up, and decides less for it: a lower route, normal priority, or fewer told."""
    out: list[Finding] = []
    for index, risk in enumerate(rules):
        if not is_risk_rule(risk):
            continue
        told = _told(policy, risk)
        reported: set[str] = set()
        for earlier in rules[:index]:
            facts = witness((*earlier.conditions, *risk.conditions))
            if facts is None:
                continue
            winner = first_match(rules, facts)
            if winner.id in reported or winner is risk:
                continue
            missing = told - _told(policy, winner)
            if (
                _RANK[winner.route] >= _RANK[risk.route]
                and winner.priority is Priority.URGENT
                and not missing
            ):
                continue
            reported.add(winner.id)
            example = _describe(facts, (*earlier.conditions, *risk.conditions))
            zh_missing = "、".join(RECIPIENT_ROLES.get(r, r) for r in sorted(missing))
            out.append(
                Finding(
                    winner.line,
                    f"规则 {winner.id} 排在风险规则 {risk.id}（第 {risk.line} 行）之前，"
                    f"压下了本应上报的纠纷：例如{example}的纠纷，{risk.id} 会"
                    f"{_route_zh(policy, risk)}（{_PRIORITY_ZH[risk.priority]}），实际由 "
                    f"{winner.id} {_route_zh(policy, winner)}（{_PRIORITY_ZH[winner.priority]}）"
                    + (f"，{zh_missing}不会收到通知" if missing else "")
                    + "；请把风险规则移到前面，或收窄前者",
                    f"rule {winner.id} comes before risk rule {risk.id} (line {risk.line}) "
                    f"and keeps down a dispute it would send up: e.g. {example}, "
                    f"{risk.id}: {risk.route.value}/{risk.priority.value}, "
                    f"{winner.id}: {winner.route.value}/{winner.priority.value}"
                    + (f", not told: {', '.join(sorted(missing))}" if missing else "")
                    + "; move the risk rule up or narrow the other",
                )
            )
    return out


def _told(policy: Policy, rule: Rule) -> set[str]:
    return {*policy.routes[rule.route].notify, *rule.notify}


def _route_zh(policy: Policy, rule: Rule) -> str:
    return f"分到“{policy.routes[rule.route].label or rule.route.value}”"


def _describe(facts: dict[str, FactValue], conditions: Iterable[Condition]) -> str:
    names = dict.fromkeys(c.fact for c in conditions if c.fact != "trigger")
    if "trigger" in {c.fact for c in conditions}:
        names = {"trigger": None, **names}
    return "、".join(f"{FACTS[n].label}为{describe_value(FACTS[n], facts[n])}" for n in names)


# -- an example dispute ---------------------------------------------------------------


def _base() -> dict[str, FactValue]:
    return {
        "category": "other", "channel": "phone", "amount": 0, "risk_flags": (),
        "summary": "", "parties": 2, "court_consent": False,
        "location": "某区/某街道/某社区/某网格", "district": "某区", "street": "某街道",
        "community": "某社区", "grid": "某网格", "level": NEW_LEVEL, "times_escalated": 0,
        "similar_recent": 0, "party_recent": 0, "trigger": SUBMITTED,
    }  # fmt: skip


def witness(conditions: Sequence[Condition]) -> dict[str, FactValue] | None:
    """Facts of a dispute meeting every one of `conditions`, or None if none was found
    (the search is simple: None proves nothing)."""
    facts = _base()
    by_fact: dict[str, list[Condition]] = {}
    for c in conditions:
        by_fact.setdefault(c.fact, []).append(c)
    _place(facts, by_fact)
    for name, group in by_fact.items():
        if name == "location" or name in PLACE_PARTS:
            continue
        chosen = next(
            (v for v in _candidates(name, group) if all(c.holds({name: v}) for c in group)),
            None,
        )
        if chosen is None:
            return None
        facts[name] = chosen
    return facts if all(c.holds(facts) for c in conditions) else None


def _place(facts: dict[str, FactValue], by_fact: dict[str, list[Condition]]) -> None:
    parts = [str(facts[p]) for p in PLACE_PARTS]
    for c in by_fact.get("location", ()):
        given = str(c.values[0]).split("/")
        parts[: len(given)] = given
    for i, part in enumerate(PLACE_PARTS):
        for c in by_fact.get(part, ()):
            if c.op in (Op.EQUALS, Op.ONE_OF):
                parts[i] = str(c.value if c.op is Op.EQUALS else c.values[0])
    facts.update(zip(PLACE_PARTS, parts, strict=True))
    facts["location"] = "/".join(parts)


def _candidates(name: str, group: list[Condition]) -> list[FactValue]:
    spec = FACTS[name]
    default = _base()[name]
    match spec.kind:
        case Kind.CODE:
            return [default, *(spec.vocabulary or TRIGGERS)]
        case Kind.FLAG:
            return [default, not default]
        case Kind.CODES:
            flags = [str(v) for c in group if c.op is Op.ALL_OF for v in c.values]
            flags += [str(c.values[0]) for c in group if c.op is Op.ANY_OF]
            return [tuple(dict.fromkeys(flags))]
        case Kind.PROSE:
            return ["，".join(str(c.values[0]) for c in group)]
        case Kind.COUNT | Kind.MONEY:
            points: list[FactValue] = [default, 0]
            for c in group:
                if c.op is Op.TIER:
                    points += [t.low_fen for t in c.tiers]
                for v in (c.value, *c.values):
                    if isinstance(v, int) and not isinstance(v, bool):
                        points += [v, v + 1, max(v - 1, 0)]
            return points
        case _:
            return [default]


# -- rungs with no way up ---------------------------------------------------------------


def no_way_up(policy: Policy) -> list[Finding]:
    """A rung (route) some rule sends disputes to, where a failure there is met by an
    escalation rule that keeps the dispute on the same rung or sends it down, without
    the street leader taking it (the top of the ladder). One warning per rule."""
    if not policy.escalation:
        return []
    rungs = dict.fromkeys(r.route for r in policy.all_rules())
    found: dict[str, Finding] = {}
    for rung in rungs:
        for trigger in FAILURES:
            for rule in _rules_for(policy.escalation, rung, trigger):
                if rule.handler == TOP_HANDLER or _RANK[rule.route] > _RANK[rung]:
                    continue
                label = policy.routes[rung].label or rung.value
                found.setdefault(
                    f"{rule.id}/{rung.value}",
                    Finding(
                        rule.line,
                        f"升级规则 {rule.id} 使“{label}”层级{TRIGGERS[trigger]}的纠纷"
                        f"停在原地或降级（去向 {rule.route.value}，无领导包案）："
                        "这一级没有向上的出路",
                        f"escalation rule {rule.id} keeps a dispute at {rung.value} on "
                        f"{trigger} where it is or lower ({rule.route.value}, no "
                        f"{TOP_HANDLER}): that rung has no way up",
                    ),
                )
    return list(found.values())


def _rules_for(rules: Sequence[Rule], rung: Route, trigger: str) -> Iterable[Rule]:
    """The escalation rules that can take a dispute at `rung` on `trigger`, in order,
    up to the first that takes every such dispute."""
    for rule in rules:
        structural = [c for c in rule.conditions if c.fact in ("trigger", "level")]
        facts: dict[str, FactValue] = {"trigger": trigger, "level": rung.value}
        if not all(c.holds(facts) for c in structural):
            continue
        yield rule
        if len(structural) == len(rule.conditions):
            return
