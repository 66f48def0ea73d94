"""Turn the rule that matched into a `Decision`: route, handler, deadline, reason, who to tell."""

from __future__ import annotations

from datetime import datetime

from fengqiao.domain.model import Decision
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, ROUTE_LABELS
from fengqiao.policy.deadlines import CHINA, due
from fengqiao.policy.facts import FACTS, Facts, describe_value
from fengqiao.policy.model import Deadline, Policy, Rule


def deadline_of(policy: Policy, rule: Rule, amount_fen: int) -> Deadline:
    """The deadline `rule` gives a dispute over `amount_fen`: its own, else its route's."""
    return (rule.deadline or policy.routes[rule.route].deadline).for_amount(amount_fen)


def make_decision(policy: Policy, rule: Rule, facts: Facts, now: datetime) -> Decision:
    """The decision `rule` makes for a dispute with `facts`, taken at `now` (timezone-aware)."""
    spec = policy.routes[rule.route]
    amount = facts["amount"]
    deadline_rule = deadline_of(policy, rule, amount if isinstance(amount, int) else 0)
    deadline = due(now, deadline_rule)
    handler = rule.handler or spec.handler
    route_label = spec.label or ROUTE_LABELS[rule.route]
    notify = tuple(dict.fromkeys((*spec.notify, *rule.notify)))
    words = _Words(
        facts,
        route=route_label,
        handler=RECIPIENT_ROLES.get(handler, handler),
        deadline=f"{deadline_rule.describe()}（{deadline.astimezone(CHINA):%Y-%m-%d %H:%M} 前）",
    )
    return Decision(
        rule_id=rule.id,
        rule_title=rule.title,
        route=rule.route,
        route_label=route_label,
        handler=handler,
        handler_label=RECIPIENT_ROLES.get(handler, handler),
        priority=rule.priority,
        deadline=deadline,
        reason=rule.reason.format_map(words),
        policy_version=policy.version,
        notify=notify,
        decided_at=now,
    )


class _Words(dict[str, str]):
    """The reason template's values, each fact put into words only if the template asks."""

    def __init__(self, facts: Facts, **fixed: str) -> None:
        super().__init__(fixed)
        self._facts = facts

    def __missing__(self, name: str) -> str:
        return describe_value(FACTS[name], self._facts[name])
