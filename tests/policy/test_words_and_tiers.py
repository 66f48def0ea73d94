"""Danger words that respect a negation or a harmless phrase, and the amount table
(`amount_tiers`) that routing conditions and deadlines both read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fengqiao.domain.model import Dispute, Location, Party, PolicyContext
from fengqiao.policy import CompiledPolicy, parse_policy
from fengqiao.policy.conditions import mentioned
from tests.policy.test_load import DEFAULT, problems, rule

TIERS = """\
amount_tiers:
  - {id: small, below: 10000, label: 1 万元以下}
  - {id: mid, at_most: 50000, label: 1–5 万元}
  - {id: big, label: 5 万元以上}
"""
COURT = "deadline: {by_tier: {small: {days: 1}, mid: {days: 7}, big: {days: 15}}}"
HEAD = f"""\
version: t
{TIERS}routes:
  local: {{label: 就地, deadline: {{days: 7}}, handler: grid_worker, notify: [grid_worker]}}
  street_office: {{label: 街道, deadline: {{working_days: 10}}, handler: street_governance_centre,
                  notify: [street_governance_centre]}}
  court_fast_track: {{label: 速裁, {COURT}, handler: court_mediation_centre,
                     notify: [court_mediation_centre]}}
rules:
"""
WORDS = "{summary: {mentions: [持刀, 砍], not_after: [没有, 未], not_within: [砍树]}}"


def dispute(summary: str = "纠纷", amount_fen: int = 0) -> Dispute:
    return Dispute(
        id="FQ-00000000-0000000000",
        category="contract_debt",
        summary=summary,
        parties=(Party(name="甲", role="applicant"),),
        location=Location("区", "街道", "社区", "网格"),
        amount_fen=amount_fen,
        channel="phone",
    )


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("对方持刀威胁", True),
        ("对方没有持刀", False),
        ("对方未持刀", False),
        ("当时没有持刀，后来持刀上门", True),  # one occurrence is not negated
        ("他说不要砍我", True),  # a plea, not a negation
        ("邻居砍树砸坏院墙", False),
        ("砍树后又扬言要砍人", True),  # 砍人 is outside the phrase
        ("没有砍树", False),
    ],
)
def test_a_word_counts_unless_negated_right_before_or_inside_a_harmless_phrase(
    text: str, counts: bool
) -> None:
    assert mentioned(text, ("持刀", "砍"), ("没有", "未"), ("砍树",)) is counts


@pytest.mark.parametrize(
    ("summary", "rule_id"),
    [("对方持刀", "words"), ("对方没有持刀", "default"), ("砍树", "default"), ("要砍人", "words")],
)
def test_both_evaluators_read_negations_and_phrases_alike(summary: str, rule_id: str) -> None:
    text = HEAD + rule("words", WORDS, "street_office") + DEFAULT
    compiled = CompiledPolicy(parse_policy(text.encode(), "t.yaml"))
    now = datetime(2026, 11, 23, 1, tzinfo=UTC)
    engine = compiled.decide(dispute(summary), PolicyContext(), now)
    explained, trace = compiled.explain(dispute(summary), PolicyContext(), now)
    assert engine.rule_id == explained.rule_id == rule_id
    if rule_id == "default":
        assert "紧跟在没有、未之后的不算" in trace[0].conditions[0].expected


def test_modifiers_without_mentions_are_refused() -> None:
    text = HEAD + rule("a", "{summary: {not_after: [没有]}}") + DEFAULT
    assert any("qualifies `mentions`" in en for _, _, en in problems(text))


def test_routing_and_deadlines_read_one_amount_table() -> None:
    text = HEAD + rule("court", "{amount: {tier: [small, mid]}}", "court_fast_track") + DEFAULT
    compiled = CompiledPolicy(parse_policy(text.encode(), "t.yaml"))
    now = datetime(2026, 11, 23, 1, tzinfo=UTC)
    decided = {
        fen: compiled.decide(dispute(amount_fen=fen), PolicyContext(), now)
        for fen in (999_999, 1_000_000, 5_000_000, 5_000_001)
    }
    assert [d.rule_id for d in decided.values()] == ["court", "court", "court", "default"]
    days = [(d.deadline - now).days for d in list(decided.values())[:3]]
    assert days == [1, 7, 7]  # at exactly 50,000 both read the 1–5 万元 row
    _, trace = compiled.explain(dispute(amount_fen=5_000_000), PolicyContext(), now)
    assert trace[0].conditions[0].expected == "涉及金额在“1 万元以下”或“1–5 万元”档"


@pytest.mark.parametrize(
    ("tiers", "says"),
    [
        ("  - {id: a, below: 100, label: x}\n  - {id: b, below: 50, label: y}\n"
         "  - {id: c, label: z}\n", "must exceed the one before"),
        ("  - {id: a, label: x}\n  - {id: b, label: y}\n", "one bound"),
        ("  - {id: a, below: 10, label: x}\n  - {id: b, at_most: 20, label: y}\n",
         "the last tier has no upper bound"),
        ("  - {id: A, below: 10, label: x}\n  - {id: b, label: y}\n", "a tier id is lowercase"),
    ],
)  # fmt: skip
def test_the_amount_table_must_ascend_to_an_open_last_tier(tiers: str, says: str) -> None:
    text = HEAD.replace(TIERS, "amount_tiers:\n" + tiers).replace(COURT, "deadline: {days: 5}")
    assert any(says in en for _, _, en in problems(text + DEFAULT))


def test_a_deadline_by_tier_names_every_tier_and_no_other() -> None:
    text = HEAD.replace(COURT, "deadline: {by_tier: {small: {days: 1}, huge: {days: 9}}}")
    messages = " | ".join(en for _, _, en in problems(text + DEFAULT))
    assert "no amount tier 'huge'" in messages
    assert "by_tier has no deadline for mid, big" in messages


def test_a_condition_naming_an_unknown_tier_is_refused_with_a_suggestion() -> None:
    text = HEAD + rule("a", "{amount: {tier: [midd]}}") + DEFAULT
    assert any("did you mean 'mid'?" in en for _, _, en in problems(text))


def test_a_narrower_tier_after_a_wider_one_is_unreachable() -> None:
    text = (
        HEAD
        + rule("wide", "{amount: {tier: [small, mid]}}")
        + rule("narrow", "{amount: {tier: mid}}", "street_office")
        + DEFAULT
    )
    assert any("narrow can never match: earlier rule wide" in en for _, _, en in problems(text))
