"""`fengqiao rules test`: the shipped cases, and what a failing or broken case looks like."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengqiao.cli.main import main
from fengqiao.domain import Route
from fengqiao.policy import CompiledPolicy, PolicyError, load_policy
from fengqiao.policy.cases import load_cases, run_cases, uncovered
from tests.conftest import POLICY, ROOT, SAMPLES

CASES = sorted((ROOT / "rules" / "tests").glob("*.yaml"))


@pytest.fixture(scope="module")
def compiled() -> CompiledPolicy:
    return CompiledPolicy(load_policy(POLICY))


def test_shipped_cases_pass_and_cover_every_rule_and_route(compiled: CompiledPolicy) -> None:
    results = run_cases(compiled, load_cases(CASES, SAMPLES))
    assert len(results) >= 40
    assert [r.case.name for r in results if not r.passed] == []
    assert uncovered(compiled, results) == []
    routes = {compiled.decide(r.case.dispute, r.case.context, r.case.at, r.case.trigger).route
              for r in results}  # fmt: skip
    assert routes == set(Route)


CASE = """\
defaults:
  at: "2026-11-23T09:00:00+08:00"
cases:
  - name: 噪音
    sample: 01-square-dance-noise.json
    expect: {route: street_office, rule: neighbour-and-property, deadline: {days: 4}}
"""


def test_a_failing_case_says_what_was_expected_and_what_came(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yaml").write_text(CASE, encoding="utf-8")
    assert main(["rules", "test", str(POLICY), str(tmp_path / "c.yaml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"✘ {tmp_path / 'c.yaml'}:4 噪音 → neighbour-and-property"
    assert "expected street_office, got local" in out[1]
    assert "期限 deadline" in out[2]
    assert out[-1] == "0 passed, 1 failed"


def test_broken_case_files_are_reported_with_positions(tmp_path: Path) -> None:
    broken = CASE.replace("sample: 01-square-dance-noise.json", "dispute: {category: noise}")
    broken = broken.replace("expect:", "expcet:")
    (tmp_path / "c.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_cases([tmp_path / "c.yaml"], SAMPLES)
    text = info.value.format()
    assert f"{tmp_path / 'c.yaml'}:6:5" in text and "did you mean 'expect'?" in text
    assert "the case's dispute is invalid: dispute.category" in text


def test_rules_test_runs_the_shipped_cases_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith("passed, 0 failed") and int(last.split()[0]) >= 40
