"""A checked policy bound to its durable_rules matcher: the pure function
`(dispute, context, now) → decision` that triage calls."""

from __future__ import annotations

from datetime import datetime

from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.policy.decide import make_decision
from fengqiao.policy.durable_engine import DurableMatcher
from fengqiao.policy.explain import RuleTrace, explain, first_match
from fengqiao.policy.facts import build_facts
from fengqiao.policy.model import Policy, Rule


class CompiledPolicy:
    """Build and use from one thread (see `DurableMatcher`)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._rules: dict[str, Rule] = {rule.id: rule for rule in policy.rules}
        self._matcher = DurableMatcher(policy.rules)

    @property
    def version(self) -> str:
        return self.policy.version

    def decide(self, dispute: Dispute, context: PolicyContext, now: datetime) -> Decision:
        """The decision through durable_rules: what triage acts on."""
        facts = build_facts(dispute, context)
        rule = self._rules[self._matcher.match(facts)]
        return make_decision(self.policy, rule, facts, now)

    def explain(
        self, dispute: Dispute, context: PolicyContext, now: datetime
    ) -> tuple[Decision, tuple[RuleTrace, ...]]:
        """The decision through the plain-Python evaluator, and why each rule matched or not."""
        facts = build_facts(dispute, context)
        rule = first_match(self.policy.rules, facts)
        return make_decision(self.policy, rule, facts, now), explain(self.policy.rules, facts)
