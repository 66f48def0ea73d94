"""`rules diff`: what an edit would change, dispute by dispute, in words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fengqiao.cli.main import main
from fengqiao.policy import CompiledPolicy, load_policy, parse_policy
from fengqiao.policy.cases import Case, load_cases
from fengqiao.policy.impact import impact
from fengqiao.samples import sample_files
from tests.conftest import POLICY

NEIGHBOUR_RULE = "neighbour-and-property"
THREE_DAYS = "    deadline: {days: 3}\n    reason: “{category}”属邻里小事"
FIVE_DAYS = "    deadline: {days: 5}\n    reason: “{category}”属邻里小事"
LOCAL = "    route: local\n    deadline: {days: 3}"
STREET = "    route: street_office\n    deadline: {days: 3}"


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases(sorted((POLICY.parent / "tests").glob("*.yaml")), POLICY.parent / "samples")


@pytest.fixture(scope="module")
def live() -> CompiledPolicy:
    return CompiledPolicy(load_policy(POLICY))


def edited_text(old: str, new: str) -> str:
    text = POLICY.read_text(encoding="utf-8")
    assert text.count(old) == 1
    return text.replace(old, new)


def edited(old: str, new: str) -> CompiledPolicy:
    return CompiledPolicy(parse_policy(edited_text(old, new).encode(), "edited.yaml"))


def hitting(live: CompiledPolicy, cases: list[Case], rule_id: str) -> set[str]:
    return {
        c.name
        for c in cases
        if live.decide(c.dispute, c.context, c.at, c.trigger).rule_id == rule_id
    }


def test_the_same_policy_changes_nothing(live: CompiledPolicy, cases: list[Case]) -> None:
    assert impact(live, CompiledPolicy(load_policy(POLICY)), cases) == []


def test_a_longer_deadline_changes_exactly_the_disputes_of_that_rule(
    live: CompiledPolicy, cases: list[Case]
) -> None:
    changes = impact(live, edited(THREE_DAYS, FIVE_DAYS), cases)
    assert {c.case.name for c in changes} == hitting(live, cases, NEIGHBOUR_RULE) != set()
    for change in changes:
        kinds = [d.split(" ")[0].split("：")[0] for d in change.differences]
        assert kinds == ["办理期限", "告知说明改为"]


def test_a_new_route_is_said_with_both_labels_and_codes(
    live: CompiledPolicy, cases: list[Case]
) -> None:
    changes = impact(live, edited(LOCAL, STREET), cases)
    assert {c.case.name for c in changes} == hitting(live, cases, NEIGHBOUR_RULE)
    said = changes[0].differences
    assert any(
        d.startswith("去向 ") and "（local） → " in d and "（street_office）" in d for d in said
    )
    assert not any(d.startswith("命中规则") for d in said)  # the same rule, routed elsewhere


def test_rules_diff_prints_each_change_and_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cases: list[Case]
) -> None:
    path = tmp_path / "triage.yaml"
    path.write_text(edited_text(THREE_DAYS, FIVE_DAYS), encoding="utf-8")
    assert main(["rules", "diff", str(POLICY), str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    changed = [line for line in out if line.startswith("✎ ")]
    assert changed and all("办理期限" in out[out.index(line) + 1] for line in changed)
    summary = re.fullmatch(r"共比对 (\d+) 件：(\d+) 件改变，(\d+) 件不变.*", out[-1])
    assert summary is not None
    total, changes, same = map(int, summary.groups())
    samples = len(sample_files(POLICY.parent / "samples"))
    assert (total, changes, same) == (len(cases) + samples, len(changed), total - len(changed))


def test_rules_diff_compares_with_the_configured_policy_when_given_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FENGQIAO_POLICY_FILE", str(POLICY))
    assert main(["rules", "diff", str(POLICY)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"对比（impact）：{POLICY}") and "0 changed" in out[-1]
    assert main(["rules", "diff", str(POLICY), str(POLICY), str(POLICY)]) == 2
