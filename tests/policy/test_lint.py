"""`rules check` warns of escalation an edit suppresses: a rule above a risk rule that
keeps a risky dispute down, a role the directory cannot reach in some street, and a
rung of the ladder with no way up."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengqiao.cli.main import main
from fengqiao.notification.directory import load_directory
from fengqiao.notification.reach import unreachable
from fengqiao.policy import load_policy, parse_policy
from fengqiao.policy.lint import lint, witness
from tests.conftest import POLICY, ROOT

RISK_FIRST = "  # —— 一、风险优先"
ABOVE = """\
  - id: noise-first
    title: 噪音纠纷一律就地
    when: {category: neighbour_noise}
    route: local
    reason: 就地化解。

"""
DIRECTORY = ROOT / "rules" / "directory.yaml"


def edited(old: str, new: str) -> str:
    text = POLICY.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_the_shipped_policy_and_directory_raise_no_warning() -> None:
    policy = load_policy(POLICY)
    assert lint(policy) == []
    assert unreachable(policy, load_directory(DIRECTORY)) == []


def test_a_rule_placed_above_risk_first_that_keeps_a_risky_dispute_local_is_named() -> None:
    policy = parse_policy(edited(RISK_FIRST, ABOVE + RISK_FIRST).encode(), "t.yaml")
    found = lint(policy)
    assert {f.line for f in found} == {next(r.line for r in policy.rules if r.id == "noise-first")}
    (first, *_) = found
    assert "noise-first comes before risk rule risk-first" in first.en
    assert "例如纠纷类别为邻里噪音扰民、风险标记为暴力倾向的纠纷" in first.zh
    assert "（紧急）" in first.zh and "（一般）" in first.zh and "派出所" in first.zh
    # risk-words is held down by the same rule, and said so once more.
    assert any("before risk rule risk-words" in f.en for f in found)


def test_a_rule_above_risk_first_that_sends_up_as_urgently_is_fine() -> None:
    urgent = ABOVE.replace("route: local", "route: street_office\n    priority: urgent").replace(
        "reason: 就地化解。", "reason: 上报。\n    notify: [police_station]"
    )
    policy = parse_policy(edited(RISK_FIRST, urgent + RISK_FIRST).encode(), "t.yaml")
    assert lint(policy) == []


def test_a_rule_above_a_risk_rule_that_no_risky_dispute_meets_is_not_warned_of() -> None:
    """An escalation rule for other events only never meets escalate-risk's disputes."""
    other = (
        "  - id: early-repeat\n    title: 重复投诉\n    on: [repeat_complaint]\n"
        "    from: local\n    when: {parties: {at_least: 3}}\n    to: street_office\n"
        "    reason: 移交街道。\n\n"
    )
    text = edited("  - id: escalate-risk", other + "  - id: escalate-risk")
    policy = parse_policy(text.encode(), "t.yaml")
    assert lint(policy) == []
    risk = next(r for r in policy.escalation if r.id == "escalate-risk")
    assert witness((*policy.escalation[0].conditions, *risk.conditions)) is None


def test_an_escalation_rule_above_escalate_risk_that_swallows_risk_raised_is_named() -> None:
    swallow = """\
  - id: quiet-local
    title: 社区内部消化
    on: [risk_raised, mediation_failed]
    from: local
    to: local
    reason: 社区继续调解。

  - id: escalate-risk"""
    policy = parse_policy(edited("  - id: escalate-risk", swallow).encode(), "t.yaml")
    messages = [f.en for f in lint(policy)]
    assert any("quiet-local comes before risk rule escalate-risk" in m for m in messages)
    # and on mediation_failed it keeps a local dispute local: no way up
    assert any("quiet-local keeps a dispute at local on mediation_failed" in m for m in messages)


def test_a_rung_whose_failure_stays_on_the_same_rung_has_no_way_up() -> None:
    text = edited(
        "    from: street_office\n    to: street_office\n    handler: street_leader\n",
        "    from: street_office\n    to: street_office\n",
    )
    found = lint(parse_policy(text.encode(), "t.yaml"))
    assert any("escalate-street-leader keeps a dispute at street_office" in f.en for f in found)
    assert any("这一级没有向上的出路" in f.zh for f in found)


def test_a_role_the_directory_lists_in_no_street_of_a_rule_is_warned_of(tmp_path: Path) -> None:
    text = DIRECTORY.read_text(encoding="utf-8")
    removed = "  - role: police_station\n    where: 甘州区/东街街道\n    name: 东街派出所\n"
    assert removed in text
    path = tmp_path / "directory.yaml"
    path.write_text(text.replace(removed + "    channels:\n      - log: true\n", ""), "utf-8")
    found = unreachable(load_policy(POLICY), load_directory(path))
    assert {f.en.split(" notifies")[0] for f in found} == {
        "rule risk-first", "rule risk-words", "rule escalate-risk",
    }  # fmt: skip
    assert all("police_station" in f.en and "甘州区/东街街道" in f.en for f in found)


def test_a_place_condition_limits_the_streets_checked(tmp_path: Path) -> None:
    """The lawyer pilot is in 甘州区: a street of 甘泉县 without a lawyer room is fine."""
    policy = load_policy(POLICY)
    lawyer = [f for f in unreachable(policy, load_directory(DIRECTORY)) if "lawyer" in f.en]
    assert lawyer == []
    assert "role: lawyer_mediation_room, where: 甘泉县" not in DIRECTORY.read_text("utf-8")


@pytest.mark.parametrize("strict", [False, True])
def test_rules_check_prints_warnings_and_fails_on_them_only_when_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strict: bool
) -> None:
    path = tmp_path / "triage.yaml"
    path.write_text(edited(RISK_FIRST, ABOVE + RISK_FIRST), encoding="utf-8")
    argv = ["rules", "check", str(path), "--directory", str(DIRECTORY)]
    assert main(argv + (["--strict"] if strict else [])) == (1 if strict else 0)
    out = capsys.readouterr().out
    assert f"{path}:" in out and "警告（warning）" in out and "noise-first" in out
