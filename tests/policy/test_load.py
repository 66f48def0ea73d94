"""The rules file is checked with errors at file:line:column that say what to do."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from fengqiao.domain import Route
from fengqiao.policy import PolicyError, load_policy, parse_policy
from fengqiao.policy.check import MAX_RULES
from tests.conftest import POLICY

HEAD = """\
version: t
routes:
  local: {label: 就地, deadline: {days: 7}, handler: grid_worker, notify: [grid_worker]}
  street_office: {label: 街道, deadline: {working_days: 10}, handler: street_governance_centre,
                  notify: [street_governance_centre]}
  court_fast_track: {label: 速裁, deadline: {working_days: 14}, handler: court_mediation_centre,
                     notify: [court_mediation_centre]}
rules:
"""
DEFAULT = """\
  - id: default
    title: 兜底
    route: local
    reason: 兜底
"""


def rule(rule_id: str, when: str = "", route: str = "local", reason: str = "r") -> str:
    """One rule as YAML, five lines (four without `when`)."""
    lines = [f"  - id: {rule_id}", "    title: t"]
    lines += [f"    when: {when}"] if when else []
    return "\n".join([*lines, f"    route: {route}", f"    reason: {reason}", ""])


def problems(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text.encode(), "t.yaml")
    return [(p.line, p.column, p.en) for p in info.value.problems]


def test_shipped_policy_loads_with_its_content_hash_as_version() -> None:
    policy = load_policy(POLICY)
    assert policy.version == hashlib.sha256(POLICY.read_bytes()).hexdigest()
    assert policy.rules[-1].conditions == ()
    assert {r.route for r in policy.rules} == set(Route)
    assert policy.rules[0].id == "risk-first"


def test_minimal_policy_loads() -> None:
    policy = parse_policy((HEAD + DEFAULT).encode(), "t.yaml")
    assert [r.id for r in policy.rules] == ["default"]


def test_typo_in_field_name_is_located_and_a_fix_suggested() -> None:
    text = HEAD + rule("a", "{categroy: labour_wages}") + DEFAULT
    ((line, col, en),) = problems(text)
    assert (line, col) == (11, 12)
    assert "did you mean 'category'?" in en


def test_rule_after_a_catch_all_is_reported_as_never_matching() -> None:
    text = HEAD + DEFAULT + rule("late", "{category: other}")
    found = problems(text)
    assert any("late can never match" in en and line == 13 for line, _, en in found)
    assert any("must be a default rule" in en for _, _, en in found)


def test_unknown_route_duplicate_id_and_bad_values_are_all_reported_at_once() -> None:
    text = (
        HEAD
        + rule("a", "{amount: {at_least: -5}}", route="street")
        + rule("a", "{risk_flags: [violent]}", reason="'{nope}'")
        + DEFAULT
    )
    found = problems(text)
    messages = " | ".join(en for _, _, en in found)
    assert "unknown route 'street'; did you mean 'street_office'?" in messages
    assert "duplicate rule id a" in messages
    assert "amount takes an amount in yuan" in messages
    assert "'violent' is not a known risk_flags; did you mean 'violence'?" in messages
    assert "unknown placeholder {nope}" in messages
    assert [line for line, _, _ in found] == sorted(line for line, _, _ in found)


def test_missing_route_and_wrong_operator_for_the_field() -> None:
    head = HEAD.split("  court_fast_track", maxsplit=1)[0] + "rules:\n"
    text = head + rule("a", "{category: {at_least: 3}}") + DEFAULT
    messages = " | ".join(en for _, _, en in problems(text))
    assert "routes is missing court_fast_track" in messages
    assert "category does not take 'at_least'" in messages


def test_yuan_become_fen_exactly() -> None:
    text = HEAD + rule("a", "{amount: {at_most: 50000.5}}") + DEFAULT
    (condition,) = parse_policy(text.encode(), "t").rules[0].conditions
    assert condition.value == 5_000_050
    assert "at most two decimals" in problems(text.replace("50000.5", "1.234"))[0][2]


def test_alias_bomb_is_refused_before_expansion() -> None:
    names = "abcdefghi"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{new}: &{new} [{', '.join([f'*{old}'] * 4)}]\n" for old, new in itertools.pairwise(names)
    )
    # Refused at the first alias, while scanning events: nothing is ever expanded.
    ((line, _, en),) = problems(bomb)
    assert line == 2 and "aliases are not allowed" in en


def test_deep_nesting_and_syntax_errors_are_refused_with_a_position() -> None:
    assert "nesting deeper" in problems("a: " + "[" * 200 + "]" * 200)[0][2]
    ((line, _, en),) = problems("version: t\nroutes: [unclosed\n")
    assert line >= 2 and "YAML syntax error" in en


def test_huge_files_are_refused_before_they_are_built() -> None:
    assert "too much content" in problems("rules:\n" + "  - x\n" * 40_000)[0][2]
    assert "larger than 512000 bytes" in problems("version: '" + "x" * 600_000 + "'\n")[0][2]


def test_python_tags_are_never_executed() -> None:
    text = "version: !!python/object/apply:os.system ['echo hacked']\n"
    found = problems(text)
    assert found  # refused: a tag is not text, and nothing ran


def test_too_many_rules_for_the_engine_is_refused() -> None:
    rules = "".join(rule(f"r{i}", f"{{similar_recent: {i}}}") for i in range(MAX_RULES + 1))
    text = HEAD + rules + DEFAULT
    ((_, _, en),) = problems(text)
    assert f"more than {MAX_RULES} rules" in en


def test_error_text_is_bilingual_and_names_the_file() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(b"rules: []\n", "rules/x.yaml")
    text = info.value.format()
    assert text.startswith("rules/x.yaml:")
    assert "缺少" in text and "missing" in text


def test_amount_bands_resolve_by_amount_and_must_ascend_to_an_open_last_band() -> None:
    bands = "{by_amount: [{below: 10000, days: 1}, {below: 50000, days: 7}, {days: 45}]}"
    text = HEAD + rule("a", "{category: other}") + f"    deadline: {bands}\n" + DEFAULT
    deadline = parse_policy(text.encode(), "t").rules[0].deadline
    assert deadline is not None
    assert [deadline.for_amount(fen).describe() for fen in (0, 999_999, 1_000_000, 10**9)] == [
        "1日", "1日", "7日", "45日",
    ]  # fmt: skip
    bad = "{by_amount: [{below: 50000, days: 7}, {below: 10000, days: 1}, {below: 9, days: 99}]}"
    messages = " | ".join(
        en for _, _, en in problems(HEAD + rule("a") + f"    deadline: {bad}\n" + DEFAULT)
    )
    assert "increasing band by band" in messages
    assert "last band must leave out `below`" in messages
    assert "days must be a whole number from 1 to 45" in messages


def test_escalation_rules_name_events_and_levels_from_their_vocabularies() -> None:
    text = (
        HEAD + DEFAULT + "escalation:\n"
        "  - id: e1\n    title: t\n    on: [mediation_faild]\n    from: locale\n"
        "    to: street_office\n    reason: r\n"
        "  - id: e2\n    title: t\n    on: [submitted]\n    to: court\n    reason: r\n"
        "  - id: e3\n    title: t\n    when: {trigger: risk_raised}\n    to: local\n    reason: r\n"
    )
    messages = " | ".join(en for _, _, en in problems(text))
    assert "unknown trigger 'mediation_faild'; did you mean 'mediation_failed'?" in messages
    assert "unknown level 'locale'; did you mean 'local'?" in messages
    assert "unknown trigger 'submitted'" in messages  # a new dispute is not an escalation event
    assert "unknown route 'court'" in messages
    assert "unknown field 'trigger'" in messages  # `on:` says which events, not `when`


def test_escalation_compiles_on_and_from_into_conditions() -> None:
    text = (
        HEAD
        + DEFAULT
        + (
            "escalation:\n"
            "  - id: up\n    title: t\n    on: [mediation_failed, deadline_expired]\n"
            "    from: local\n    to: street_office\n    handler: street_leader\n"
            "    reason: '{trigger}'\n"
            "  - id: rest\n    title: t\n    to: street_office\n    reason: r\n"
        )
    )
    first = parse_policy(text.encode(), "t").escalation[0]
    assert [(c.fact, c.values) for c in first.conditions] == [
        ("trigger", ("mediation_failed", "deadline_expired")),
        ("level", ("local",)),
    ]
    assert first.handler == "street_leader"


def test_summary_words_and_places_are_checked() -> None:
    text = (
        HEAD + rule("a", "{summary: [刀, '.*']}") + rule("b", "{location: [甘州区//x]}") + DEFAULT
    )
    messages = " | ".join(en for _, _, en in problems(text))
    assert "a word to look for is 1 to 32 characters without" in messages
    assert "a place is district/street/community/grid or a prefix" in messages
