"""The shadowed-rule check rests on `implies`: it must never claim an implication that a
value can break (or `rules check` would refuse a good policy), and it must find the
everyday ones policy staff write."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from fengqiao.domain.vocabulary import CATEGORIES
from fengqiao.policy import parse_policy
from fengqiao.policy.conditions import OPS_BY_KIND, AmountTier, Condition, Op, Scalar
from fengqiao.policy.facts import FACTS, LEVELS, FactValue
from fengqiao.policy.implies import implies
from tests.policy.test_load import DEFAULT, HEAD, problems, rule

FLAGS = ("violence", "threat", "elderly")
WORDS = ("欠薪", "欠", "工资", "打人")
PLACES = ("A", "A/B", "A/B/C", "A/D", "E")
NAMES = ("甲", "乙", "丙")
NUMBERS = (0, 3, 100, 200)
# An amount table whose bounds fall on and between NUMBERS.
TIERS = (
    AmountTier("a", "甲", 0, 3),
    AmountTier("b", "乙", 3, 101),
    AmountTier("c", "丙", 101, None),
)
NEGATIONS = ((), ("没",), ("没", "未"))
PHRASES = ((), ("拖欠工资",), ("欠薪打人",))

# For each kind: the values conditions are built from, and every value a fact may take
# that could tell a true implication from a false one (boundaries, prefixes, subsets).
POOLS: dict[str, tuple[tuple[Scalar, ...], tuple[FactValue, ...]]] = {
    "category": (tuple(CATEGORIES)[:4], tuple(CATEGORIES)),
    "level": (tuple(LEVELS), tuple(LEVELS)),
    "district": (NAMES, (*NAMES, "丁")),
    "amount": (NUMBERS, tuple({n + d for n in NUMBERS for d in (-1, 0, 1)})),
    "parties": (NUMBERS, tuple({n + d for n in NUMBERS for d in (-1, 0, 1)})),
    "court_consent": ((True, False), (True, False)),
    "risk_flags": (
        FLAGS,
        tuple(
            tuple(c)
            for n in range(4)
            for c in itertools.combinations((*FLAGS, "group_incident"), n)
        ),
    ),
    "summary": (
        WORDS,
        ("", "无关", *WORDS, "拖欠工资", "欠薪打人", "工资", "没欠薪", "未打人", "没欠薪但打人"),
    ),
    "location": (PLACES, (*PLACES, "A/B/C/D", "AB", "A/BC", "E/F")),
}


def conditions(fact: str) -> Iterator[Condition]:
    values, _ = POOLS[fact]
    for op in sorted(OPS_BY_KIND[FACTS[fact].kind]):
        if op is Op.TIER:
            for n in (1, 2):
                for tiers in itertools.combinations(TIERS, n):
                    yield Condition(fact, op, values=tuple(t.id for t in tiers), tiers=tiers)
        elif op is Op.MENTIONS:
            for n, negations, phrases in itertools.product((1, 2), NEGATIONS, PHRASES):
                for chosen in itertools.combinations(values, n):
                    yield Condition(fact, op, values=chosen, not_after=negations,
                                    not_within=phrases)  # fmt: skip
        elif op in {Op.ONE_OF, Op.NOT_ONE_OF, Op.ANY_OF, Op.ALL_OF, Op.WITHIN}:
            for n in (1, 2):
                for chosen in itertools.combinations(values, n):
                    yield Condition(fact, op, values=chosen)
        else:
            for value in values:
                yield Condition(fact, op, value=value)


@pytest.mark.parametrize("fact", sorted(POOLS))
def test_no_claimed_implication_is_broken_by_any_value(fact: str) -> None:
    _, domain = POOLS[fact]
    pool = list(conditions(fact))
    claimed = 0
    for a, b in itertools.product(pool, pool):
        if implies(a, b):
            claimed += 1
            for value in domain:
                if a.holds({fact: value}):
                    assert b.holds({fact: value}), f"{a} does not imply {b}: {value!r}"
    assert claimed >= len(pool)  # at least every a ⇒ a


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Condition("amount", Op.AT_LEAST, 20_000), Condition("amount", Op.AT_LEAST, 10_000)),
        (Condition("amount", Op.MORE_THAN, 100), Condition("amount", Op.AT_LEAST, 100)),
        (Condition("amount", Op.EQUALS, 5), Condition("amount", Op.LESS_THAN, 6)),
        (Condition("parties", Op.AT_LEAST, 5), Condition("parties", Op.NOT, 2)),
        (
            Condition("category", Op.EQUALS, "labour_wages"),
            Condition("category", Op.ONE_OF, values=("labour_wages", "contract_debt")),
        ),
        (
            Condition(
                "category",
                Op.NOT_ONE_OF,
                values=tuple(c for c in CATEGORIES if c != "contract_debt"),
            ),
            Condition("category", Op.ONE_OF, values=("contract_debt", "labour_wages")),
        ),
        (
            Condition("risk_flags", Op.ALL_OF, values=("violence", "threat")),
            Condition("risk_flags", Op.ANY_OF, values=("threat", "self_harm")),
        ),
        (
            Condition("location", Op.WITHIN, values=("甘州区/东街街道",)),
            Condition("location", Op.WITHIN, values=("甘州区",)),
        ),
        (
            Condition("summary", Op.MENTIONS, values=("拖欠工资",)),
            Condition("summary", Op.MENTIONS, values=("工资",)),
        ),
        (
            Condition("summary", Op.MENTIONS, values=("拖欠工资",), not_after=("没",)),
            Condition("summary", Op.MENTIONS, values=("工资",)),
        ),
        (
            Condition("amount", Op.TIER, values=("b",), tiers=TIERS[1:2]),
            Condition("amount", Op.AT_LEAST, 3),
        ),
        (
            Condition("amount", Op.TIER, values=("a", "b"), tiers=TIERS[:2]),
            Condition("amount", Op.AT_MOST, 100),
        ),
        (
            Condition("amount", Op.AT_LEAST, 200),
            Condition("amount", Op.TIER, values=("b", "c"), tiers=TIERS[1:]),
        ),
    ],
)
def test_everyday_implications_are_found(a: Condition, b: Condition) -> None:
    assert implies(a, b)
    assert not implies(b, a)


def test_conditions_on_different_facts_imply_nothing() -> None:
    assert not implies(Condition("amount", Op.AT_LEAST, 5), Condition("parties", Op.AT_LEAST, 5))


@pytest.mark.parametrize(
    ("wide", "narrow"),
    [
        ("{category: labour_wages}", "{category: labour_wages, parties: {at_least: 3}}"),
        ("{amount: {at_least: 100}}", "{amount: {at_least: 200}, category: contract_debt}"),
        ("{location: 甘州区}", "{location: 甘州区/东街街道, risk_flags: [violence, threat]}"),
    ],
)
def test_a_rule_an_earlier_one_takes_all_disputes_of_is_reported(wide: str, narrow: str) -> None:
    text = HEAD + rule("wide", wide) + rule("narrow", narrow, "street_office") + DEFAULT
    ((line, _, en),) = problems(text)
    assert line == 14 and "narrow can never match: earlier rule wide" in en


def test_a_wider_amount_after_a_narrower_one_is_fine() -> None:
    text = (
        HEAD
        + rule("bigger", "{amount: {at_least: 200}}")
        + rule("big", "{amount: {at_least: 100}}", "street_office")
        + DEFAULT
    )
    policy = parse_policy(text.encode(), "t.yaml")
    assert [r.id for r in policy.rules] == ["bigger", "big", "default"]


def test_a_broken_rule_before_does_not_shift_where_a_shadowed_rule_is_reported() -> None:
    text = (
        HEAD
        + rule("broken", "{categroy: other}")
        + rule("big", "{amount: {more_than: 100}}")
        + rule("bigger", "{amount: {at_least: 200}}", "street_office")
        + DEFAULT
    )
    found = problems(text)
    assert [line for line, _, en in found if "bigger can never match" in en] == [19]
