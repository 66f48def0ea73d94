"""A checked policy bound to its durable_rules matchers: the pure function
`(dispute, context, trigger, now) → decision` that triage calls."""

from __future__ import annotations

from datetime import datetime

from fengqiao.domain.calendar import calendar_known_until
from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.policy.deadlines import CHINA
from fengqiao.policy.decide import deadline_of, make_decision
from fengqiao.policy.durable_engine import DurableMatcher
from fengqiao.policy.explain import RuleTrace, explain, first_match
from fengqiao.policy.facts import build_facts
from fengqiao.policy.model import DeadlineUnit, Policy, Rule


class CompiledPolicy:
    """Build and use from one thread (see `DurableMatcher`).

    A new dispute (`trigger="submitted"`) goes through `rules`; any later event
    (mediation failed, deadline expired, …) through `escalation`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._rules: dict[str, Rule] = {rule.id: rule for rule in policy.all_rules()}
        self._routing = DurableMatcher(policy.rules, "routing")
        self._escalation = (
            DurableMatcher(policy.escalation, "escalation") if policy.escalation else None
        )

    @property
    def version(self) -> str:
        return self.policy.version

    def close(self) -> None:
        """Free the engine's compiled rulesets (from the thread that built them); only the
        plain evaluator (`decide_plain`, `explain`) works after it."""
        self._routing.close()
        if self._escalation is not None:
            self._escalation.close()

    def decide(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> Decision:
        """The decision through durable_rules: what triage acts on."""
        facts = build_facts(dispute, context, trigger)
        matcher = self._routing if trigger == SUBMITTED else self._escalation
        if matcher is None:
            raise LookupError("this policy has no escalation section")
        rule = self._rules[matcher.match(facts)]
        return make_decision(self.policy, rule, facts, now)

    def decide_plain(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> Decision:
        """The same decision through the plain-Python first match (no engine, any thread):
        several times faster for bulk work such as a replay. `tests/policy/test_agreement.py`
        holds the two evaluators together."""
        facts = build_facts(dispute, context, trigger)
        rules = self.policy.rules if trigger == SUBMITTED else self.policy.escalation
        return make_decision(self.policy, first_match(rules, facts), facts, now)

    def deadline_estimated(self, decision: Decision, dispute: Dispute) -> bool:
        """Whether `decision`'s deadline counts working days into a year the calendar
        package has no official holidays for: Monday to Friday stood in for them."""
        rule = self._rules.get(decision.rule_id)
        if rule is None:
            return False
        deadline = deadline_of(self.policy, rule, dispute.amount_fen)
        return (
            deadline.unit is DeadlineUnit.WORKING_DAYS
            and decision.deadline.astimezone(CHINA).year > calendar_known_until()
        )

    def explain(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> tuple[Decision, tuple[RuleTrace, ...]]:
        """The decision through the plain-Python evaluator, and why each rule matched or not."""
        facts = build_facts(dispute, context, trigger)
        rules = self.policy.rules if trigger == SUBMITTED else self.policy.escalation
        rule = first_match(rules, facts)
        return make_decision(self.policy, rule, facts, now), explain(rules, facts)
