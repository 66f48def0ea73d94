"""Whatever policy staff do to the rules file, `rules check` answers with a Policy or with
located problems, never with a crash: the shipped policy, mutated line by line and value
by value, either loads or raises `PolicyError` with every problem inside the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengqiao.policy import PolicyError, parse_policy
from fengqiao.policy.cases import load_cases
from tests.conftest import POLICY

T = TypeVar("T")

LINES = POLICY.read_text(encoding="utf-8").splitlines()
# What a hurried edit puts where a value was.
REPLACEMENTS = [
    "", "~", "[]", "{}", "0", "-1", "1e400", "3.5", "true", "yes", "'x'", "[1, [2, {3: 4}]]",
    "{days: -3}", "{working_days: 0}", "{hours: 99999999}", "{at_least: abc}", "[violence",
    "local", "street", "court_fast_track", "labour_wages", "甘州区/", "\"\\u0000\"",
    "{[a]: 1}", "{category: {[x]: 1}}", "{amount: {at_least: [1]}}", "{summary: {mentions: []}}",
    "{location: {within: [{}]}}", "{below: 10000}", "[{below: x, days: 1}]", "!!binary aGk=",
]  # fmt: skip


@st.composite
def edited(draw: st.DrawFn, original: list[str] = LINES) -> str:
    lines = list(original)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        match draw(st.sampled_from(["drop", "duplicate", "value", "indent", "key"])):
            case "drop":
                del lines[i]
            case "duplicate":
                lines.insert(i, lines[i])
            case "value" if ":" in lines[i]:
                key = lines[i].split(":", 1)[0]
                lines[i] = f"{key}: {draw(st.sampled_from(REPLACEMENTS))}"
            case "indent":
                lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
            case "key" if ":" in lines[i]:
                _, value = lines[i].split(":", 1)
                indent = len(lines[i]) - len(lines[i].lstrip())
                lines[i] = (
                    " " * indent + draw(st.sampled_from(["when", "route", "id", "x"])) + ":" + value
                )
            case _:
                pass
    return "\n".join(lines) + "\n"


def loaded_or_refused(load: Callable[[], T], text: str) -> T | None:
    """What `load` makes of the edited `text`, or None if it refused it, in which case
    every problem names a place inside `text` and says what is wrong in both languages."""
    try:
        return load()
    except PolicyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert 1 <= problem.line <= text.count("\n") + 1 and problem.column >= 1
            assert problem.zh and problem.en
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited())
def test_any_edit_loads_or_is_refused_with_located_problems(text: str) -> None:
    policy = loaded_or_refused(lambda: parse_policy(text.encode("utf-8"), "triage.yaml"), text)
    if policy is not None:
        assert policy.rules and policy.rules[-1].conditions == ()


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [  # what the fuzzing above once found crashing the checker
        ("    priority: urgent\n", "    priority: []\n", "priority must be normal or urgent"),
        ("amount: {more_than: 0,", "amount: {more_than: 1e400,", "from 0 to 10^12"),
    ],
)
def test_edits_that_once_crashed_the_checker_are_refused_in_words(
    old: str, new: str, says: str
) -> None:
    text = POLICY.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(PolicyError) as info:
        parse_policy(text.replace(old, new, 1).encode("utf-8"), "triage.yaml")
    assert any(says in p.en for p in info.value.problems)


CASES = (POLICY.parent / "tests" / "routing.yaml").read_text(encoding="utf-8").splitlines()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited(CASES))
def test_any_edit_of_a_case_file_loads_or_is_refused_with_problems(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("cases") / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    cases = loaded_or_refused(lambda: load_cases([path], POLICY.parent / "samples"), text)
    if cases is not None:
        assert all(case.name for case in cases)


def test_a_dispute_that_is_not_a_mapping_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(
        "defaults: {dispute: [1]}\ncases:\n  - name: x\n    dispute: [2]\n"
        "    expect: {route: local}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_cases([path], POLICY.parent / "samples")
    refused = [(p.line, p.en) for p in info.value.problems if "mapping" in p.en]
    assert refused == [(1, "dispute must be a mapping"), (4, "dispute must be a mapping")]
