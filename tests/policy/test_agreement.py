"""durable_rules (what triage acts on) and the plain-Python explainer must agree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fengqiao.domain import Dispute, Location, Party, PolicyContext, Route
from fengqiao.domain.vocabulary import CATEGORIES, CHANNELS, PARTY_ROLES, RISK_FLAGS, SUBMITTED
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.policy import CompiledPolicy, load_policy, parse_policy
from fengqiao.policy.durable_engine import DurableMatcher
from fengqiao.policy.facts import build_facts
from tests.conftest import POLICY, ROOT, samples
from tests.policy.test_load import DEFAULT, HEAD

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return CompiledPolicy(load_policy(POLICY))


def test_samples_decide_the_same_both_ways_and_reach_every_route(compiled: CompiledPolicy) -> None:
    routes = set()
    for request in samples():
        dispute = dispute_from_proto(request.dispute)
        engine = compiled.decide(dispute, PolicyContext(), NOW)
        explained, trace = compiled.explain(dispute, PolicyContext(), NOW)
        assert engine == explained
        assert trace[-1].matched and trace[-1].rule_id == engine.rule_id
        assert not any(t.matched for t in trace[:-1])
        routes.add(engine.route)
    assert routes == set(Route)


places = st.builds(
    Location,
    district=st.sampled_from(["甘州区", "岚皋县", "甘州"]),
    street=st.sampled_from(["东街街道", "城关镇"]),
    community=st.just("南关社区"),
    grid=st.sampled_from(["第1网格", "第3网格"]),
)
# Words the shipped policy looks for, inside noise, newlines and pattern characters.
summaries = st.lists(
    st.one_of(st.sampled_from(["持刀", "跳楼", "堵路", "聚集", "刀", "砍", "。", "\n", ".*", "%"]),
              st.text(max_size=20)),
    max_size=6,
).map(lambda parts: "".join(parts) or "无")  # fmt: skip
disputes = st.builds(
    Dispute,
    category=st.sampled_from(sorted(CATEGORIES)),
    summary=summaries,
    parties=st.lists(
        st.builds(Party, name=st.just("张三"), role=st.sampled_from(sorted(PARTY_ROLES))),
        min_size=1,
        max_size=8,
    ).map(tuple),
    location=places,
    # Dense around the policy's boundaries (0, ¥50,000, ¥100,000) and beyond.
    amount_fen=st.one_of(
        st.sampled_from([0, 1, 4_999_999, 5_000_000, 5_000_001, 10_000_000, 10_000_001]),
        st.integers(min_value=0, max_value=10**9),
    ),
    channel=st.sampled_from(sorted(CHANNELS)),
    risk_flags=st.lists(st.sampled_from(sorted(RISK_FLAGS)), unique=True, max_size=2).map(tuple),
    court_mediation_consent=st.booleans(),
)
contexts = st.builds(
    PolicyContext,
    current_level=st.one_of(st.none(), st.sampled_from(list(Route))),
    times_escalated=st.integers(0, 4),
    similar_recent=st.integers(0, 5),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dispute=disputes, context=contexts)
def test_generated_disputes_decide_the_same_both_ways(
    compiled: CompiledPolicy, dispute: Dispute, context: PolicyContext
) -> None:
    assert compiled.decide(dispute, context, NOW) == compiled.explain(dispute, context, NOW)[0]


def test_every_operator_agrees_on_a_policy_that_uses_them_all() -> None:
    rules = """\
  - id: not-one-of
    title: t
    when:
      category: {not_one_of: [other, petition, labour_wages, neighbour_noise]}
      parties: {more_than: 2}
    route: street_office
    reason: r
  - id: all-of
    title: t
    when: {risk_flags: {all_of: [violence, threat]}}
    route: street_office
    reason: r
  - id: not-and-less
    title: t
    when: {channel: {not: phone}, amount: {less_than: 100}, level: new}
    route: court_fast_track
    reason: r
  - id: text-and-flag
    title: t
    when: {grid: 第3网格, court_consent: false, similar_recent: {at_most: 1}}
    route: court_fast_track
    reason: r
  - id: words
    title: t
    when: {summary: [刀, "。"]}
    route: street_office
    reason: r
  - id: place
    title: t
    when: {location: [甘州区/东街街道, 岚皋县/城关镇/南关社区/第1网格]}
    route: local
    reason: r
"""
    policy = CompiledPolicy(parse_policy((HEAD + rules + DEFAULT).encode(), "ops.yaml"))
    seen = set()

    # One explicit dispute per rule, so every rule is reached whatever the random draw.
    base = Dispute(
        category="other", summary="无", parties=(Party("张三", "applicant"),),
        location=Location("岚皋县", "城关镇", "南关社区", "第2网格"), channel="phone",
    )  # fmt: skip
    east = Location("甘州区", "东街街道", "南关社区", "第1网格")
    per_rule = [
        replace(base, category="contract_debt", parties=base.parties * 3),
        replace(base, risk_flags=("violence", "threat")),
        replace(base, channel="visit", amount_fen=50),
        replace(base, location=replace(base.location, grid="第3网格")),
        replace(base, summary="他拿着刀"),
        replace(base, location=east),
        base,
    ]

    @settings(max_examples=300, deadline=None)
    @given(dispute=disputes, context=contexts)
    @example(per_rule[0], PolicyContext())
    @example(per_rule[1], PolicyContext())
    @example(per_rule[2], PolicyContext())
    @example(per_rule[3], PolicyContext())
    @example(per_rule[4], PolicyContext())
    @example(per_rule[5], PolicyContext())
    @example(per_rule[6], PolicyContext())
    def agree(dispute: Dispute, context: PolicyContext) -> None:
        engine = policy.decide(dispute, context, NOW)
        assert engine == policy.explain(dispute, context, NOW)[0]
        seen.add(engine.rule_id)

    agree()
    assert seen == {"not-one-of", "all-of", "not-and-less", "text-and-flag", "words", "place",
                    "default"}  # fmt: skip


def test_matcher_refuses_a_second_thread(compiled: CompiledPolicy) -> None:
    dispute = dispute_from_proto(samples()[0].dispute)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            compiled.decide(dispute, PolicyContext(), NOW)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "thread" in str(errors[0])


def test_a_closed_policy_frees_its_engine_and_still_decides_plainly() -> None:
    """The console compiles a draft per request and closes it: the engine refuses to match
    after that (never a crash on a freed ruleset), the plain evaluator still decides."""
    compiled = CompiledPolicy(load_policy(POLICY))
    dispute = dispute_from_proto(samples()[0].dispute)
    before = compiled.decide(dispute, PolicyContext(), NOW)
    compiled.close()
    compiled.close()  # twice is harmless
    with pytest.raises(Exception, match="Invalid argument"):  # the core refuses
        compiled.decide(dispute, PolicyContext(), NOW)
    assert compiled.decide_plain(dispute, PolicyContext(), NOW) == before


def test_matcher_says_so_when_no_rule_matches(compiled: CompiledPolicy) -> None:
    """`rules check` refuses a policy without a default; were one ever compiled anyway,
    an unmatched dispute is an error, never a silent route."""
    first = compiled.policy.rules[0]  # risk first: only disputes with a risk flag
    matcher = DurableMatcher([first], "no-default")
    calm = dispute_from_proto(samples()[0].dispute)
    assert not calm.risk_flags
    with pytest.raises(RuntimeError, match="no rule matched"):
        matcher.match(build_facts(calm, PolicyContext(), SUBMITTED))
    risky = replace(calm, risk_flags=("violence",))
    assert matcher.match(build_facts(risky, PolicyContext(), SUBMITTED)) == first.id


# glibc fills fresh allocations with the complement of MALLOC_PERTURB_'s low byte. These
# two make it read as durable_rules' "identifier" (0x09) and "expression" (0x0C) value
# types: the bytes that made the core refuse a `$or` inside `$iany` at random.
@pytest.mark.parametrize("perturb", ["246", "243"])
def test_the_compiled_policy_does_not_depend_on_what_malloc_returns(perturb: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fengqiao", "rules", "test"],
        cwd=ROOT, env={**os.environ, "MALLOC_PERTURB_": perturb}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 failed" in done.stdout
