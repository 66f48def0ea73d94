"""The same first-match decision in plain Python, condition by condition, in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fengqiao.policy.facts import FACTS, Facts, describe_value
from fengqiao.policy.model import Rule


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    fact: str
    expected: str
    actual: str
    satisfied: bool


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule_id: str
    title: str
    matched: bool
    conditions: tuple[ConditionTrace, ...]


def first_match(rules: Sequence[Rule], facts: Facts) -> Rule:
    """The first rule whose conditions all hold. A checked policy always ends in a default."""
    for rule in rules:
        if all(c.holds(facts) for c in rule.conditions):
            return rule
    raise LookupError("no rule matched: the policy has no default rule")


def explain(rules: Sequence[Rule], facts: Facts) -> tuple[RuleTrace, ...]:
    """Every rule up to and including the first that matches, each condition judged."""
    out: list[RuleTrace] = []
    for rule in rules:
        conditions = tuple(
            ConditionTrace(
                fact=c.fact,
                expected=c.describe(),
                actual=describe_value(FACTS[c.fact], facts[c.fact]),
                satisfied=c.holds(facts),
            )
            for c in rule.conditions
        )
        matched = all(c.satisfied for c in conditions)
        out.append(RuleTrace(rule.id, rule.title, matched, conditions))
        if matched:
            break
    return tuple(out)
