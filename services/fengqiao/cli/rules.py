"""`fengqiao rules …`: what policy staff run before a change goes live."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from fengqiao import publishing
from fengqiao.domain.errors import InvalidArgument
from fengqiao.domain.model import Dispute, PolicyContext
from fengqiao.domain.validation import validate_dispute
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.notification.directory import load_directory
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.policy import CompiledPolicy, Policy, load_policy
from fengqiao.policy.cases import Case, load_cases
from fengqiao.policy.deadlines import CHINA
from fengqiao.policy.impact import impact
from fengqiao.policy.schema import policy_schema
from fengqiao.publishing import Checked, Review, Tested
from fengqiao.samples import read_submission, sample_files


def schema() -> int:
    print(json.dumps(policy_schema(), ensure_ascii=False, indent=2))
    return 0


def check(path: Path, directory: Path | None, *, strict: bool) -> int:
    """Refuse a file with problems (exit 1); print warnings (exit 1 only if `strict`)."""
    policy = load_policy(path)
    _print_loaded(path, policy)
    checked = publishing.check(
        policy,
        load_directory(directory) if directory is not None else None,
        datetime.now(CHINA).date(),
    )
    _print_checked(path, checked)
    return 1 if strict and checked.warnings else 0


def _print_loaded(path: Path, policy: Policy) -> None:
    print(
        f"{path}: 检查通过（ok）— {len(policy.rules)} 条分流规则，"
        f"{len(policy.escalation)} 条升级规则，版本 {policy.label}，"
        f"policy_version {policy.version[:12]}"
    )


def _print_checked(path: Path, checked: Checked) -> None:
    if not checked.reach_checked:
        print("提示：没有找到通讯录，未检查通知能否送达（no directory: reach not checked）")
    for finding in checked.warnings:
        print(f"{path}:{finding.line}: 警告（warning）：{finding.zh}\n    {finding.en}")
    gap = checked.calendar_gap
    if gap is not None:
        print(
            f"提示：工作日日历（chinesecalendar）尚无 {gap} 年的节假日安排，跨入 {gap} 年的"
            f"工作日时限按周一至周五计算；{gap} 年安排公布后请更新该软件包"
            f"（working-day deadlines into {gap} count Monday to Friday until the package "
            "is updated）"
        )
    if checked.warnings:
        print(f"{len(checked.warnings)} 条警告（{len(checked.warnings)} warnings）")


def test(path: Path, case_files: Sequence[Path], *, verbose: bool, home: Path | None = None) -> int:
    """Run the cases (default: `tests/*.yaml` in `home`, else beside the file); the last
    line is `N passed, M failed`. Exit 1 on any failure."""
    policy = load_policy(path)
    home = home or path.parent
    files = list(case_files) or publishing.case_files(home)
    if not files:
        _no_cases(home)
        return 1
    tested = publishing.run_tests(policy, load_cases(files, home / "samples"))
    _print_tested(tested, verbose=verbose)
    return 1 if tested.failed else 0


def _no_cases(home: Path) -> None:
    print(f"没有找到用例（no case files in {home / 'tests'}）", file=sys.stderr)


def _print_tested(tested: Tested, *, verbose: bool) -> None:
    for result in tested.results:
        case = result.case
        if result.passed and not verbose:
            continue
        mark = "✔" if result.passed else "✘"
        print(f"{mark} {case.source}:{case.line} {case.name} → {result.rule_id}")
        for failure in result.failures:
            print(f"    {failure}")
    if tested.uncovered:
        print(f"提示：以下规则没有用例覆盖（no case ends on）：{', '.join(tested.uncovered)}")
    print(f"{len(tested.results) - tested.failed} passed, {tested.failed} failed")


def show_review(path: Path, reviewed: Review) -> None:
    """Print what `check --strict` and then `test` print for the draft, stage by stage;
    raise its `PolicyError` where they would have."""
    if reviewed.policy is None or reviewed.checked is None:
        if reviewed.policy is not None:
            _print_loaded(path, reviewed.policy)
        assert reviewed.error is not None
        raise reviewed.error
    _print_loaded(path, reviewed.policy)
    _print_checked(path, reviewed.checked)
    if reviewed.checked.warnings:
        return
    if reviewed.no_cases:
        _no_cases(reviewed.draft.home)
        return
    if reviewed.tested is None:
        assert reviewed.error is not None
        raise reviewed.error
    _print_tested(reviewed.tested, verbose=False)


def diff(live: Path, edited: Path) -> int:
    """What `edited` would change against `live`, over every policy test case and sample
    submission beside `live`; changed disputes, then a count. Exit 0 either way."""
    old, new = CompiledPolicy(load_policy(live)), CompiledPolicy(load_policy(edited))
    cases = [
        *load_cases(sorted((live.parent / "tests").glob("*.yaml")), live.parent / "samples"),
        *_sample_cases(live.parent / "samples"),
    ]
    changes = impact(old, new, cases)
    print(f"对比（impact）：{live}（{old.policy.label}，{old.version[:12]}）")
    print(f"           → {edited}（{new.policy.label}，{new.version[:12]}）")
    for change in changes:
        case = change.case
        print(f"✎ {case.source}:{case.line} {case.name}")
        for difference in change.differences:
            print(f"    {difference}")
    print(
        f"共比对 {len(cases)} 件：{len(changes)} 件改变，{len(cases) - len(changes)} 件不变"
        f"（{len(cases)} compared: {len(changes)} changed, {len(cases) - len(changes)} unchanged）"
    )
    return 0


def _sample_cases(directory: Path) -> list[Case]:
    at = datetime.now(UTC)
    return [
        Case(
            name=f"样例 {path.name}",
            source=str(path),
            line=1,
            dispute=dispute_from_proto(read_submission(path).dispute),
            context=PolicyContext(),
            trigger=SUBMITTED,
            at=at,
            expect={},
        )
        for path in sample_files(directory)
    ]


def explain(
    rules: Path, dispute_file: Path, context: PolicyContext, trigger: str, *, as_json: bool
) -> int:
    compiled = CompiledPolicy(load_policy(rules))
    dispute = dispute_from_proto(read_submission(dispute_file).dispute)
    try:
        validate_dispute(dispute)  # as intake and Evaluate do: no verdict on what they refuse
    except InvalidArgument as exc:
        print(f"{dispute_file}: 受理时会被拒绝，不予分流（intake would refuse this dispute）：",
              file=sys.stderr)  # fmt: skip
        for violation in exc.violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        return 2
    return show_explained(compiled, dispute, context, trigger, datetime.now(UTC), as_json=as_json)


def show_explained(
    compiled: CompiledPolicy,
    dispute: Dispute,
    context: PolicyContext,
    trigger: str,
    at: datetime,
    *,
    as_json: bool,
) -> int:
    """Print why `compiled` decides `dispute` as it does at `at`: each rule tried, each
    condition, the verdict. Exit 1 if the engine and the plain evaluator disagree."""
    decision, trace = compiled.explain(dispute, context, at, trigger)
    engine = compiled.decide(dispute, context, at, trigger)
    if as_json:
        out = {
            "decision": {
                **asdict(decision),
                "deadline": decision.deadline.isoformat(),
                "decided_at": decision.decided_at.isoformat(),
            },
            "trace": [asdict(t) for t in trace],
            "engine_rule_id": engine.rule_id,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for t in trace:
        print(f"{'✔ 命中' if t.matched else '✘ 未中'}  {t.rule_id}：{t.title}")
        for c in t.conditions:
            mark = "✔" if c.satisfied else "✘"
            print(f"      {mark} {c.expected}（实际：{c.actual}）")
    print()
    print(
        f"结论：{decision.route_label}，规则 {decision.rule_id}，"
        f"时限 {decision.deadline.astimezone(CHINA):%Y-%m-%d %H:%M}，{decision.priority.value}"
    )
    print(f"理由：{decision.reason}")
    if engine.rule_id != decision.rule_id:
        print(f"警告：规则引擎给出不同结果 {engine.rule_id}（engine disagrees）", file=sys.stderr)
        return 1
    return 0
