"""`fengqiao rules …`: what policy staff run before a change goes live."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from fengqiao.domain.errors import InvalidArgument
from fengqiao.domain.model import Dispute, PolicyContext
from fengqiao.domain.validation import validate_dispute
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.notification.directory import load_directory
from fengqiao.notification.reach import unreachable
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.policy import CompiledPolicy, load_policy
from fengqiao.policy.cases import Case, load_cases, run_cases, uncovered
from fengqiao.policy.deadlines import CHINA, calendar_runs_out
from fengqiao.policy.impact import impact
from fengqiao.policy.lint import lint
from fengqiao.policy.schema import policy_schema
from fengqiao.samples import read_submission, sample_files


def schema() -> int:
    print(json.dumps(policy_schema(), ensure_ascii=False, indent=2))
    return 0


def check(path: Path, directory: Path | None, *, strict: bool) -> int:
    """Refuse a file with problems (exit 1); print warnings (exit 1 only if `strict`)."""
    policy = load_policy(path)
    print(
        f"{path}: 检查通过（ok）— {len(policy.rules)} 条分流规则，"
        f"{len(policy.escalation)} 条升级规则，版本 {policy.label}，"
        f"policy_version {policy.version[:12]}"
    )
    findings = lint(policy)
    if directory is not None:
        findings += unreachable(policy, load_directory(directory))
    else:
        print("提示：没有找到通讯录，未检查通知能否送达（no directory: reach not checked）")
    for finding in sorted(findings, key=lambda f: f.line):
        print(f"{path}:{finding.line}: 警告（warning）：{finding.zh}\n    {finding.en}")
    gap = calendar_runs_out(policy, datetime.now(CHINA).date())
    if gap is not None:
        print(
            f"提示：工作日日历（chinesecalendar）尚无 {gap} 年的节假日安排，跨入 {gap} 年的"
            f"工作日时限按周一至周五计算；{gap} 年安排公布后请更新该软件包"
            f"（working-day deadlines into {gap} count Monday to Friday until the package "
            "is updated）"
        )
    if findings:
        print(f"{len(findings)} 条警告（{len(findings)} warnings）")
    return 1 if strict and findings else 0


def test(path: Path, case_files: Sequence[Path], *, verbose: bool, home: Path | None = None) -> int:
    """Run the cases (default: `tests/*.yaml` in `home`, else beside the file); the last
    line is `N passed, M failed`. Exit 1 on any failure."""
    compiled = CompiledPolicy(load_policy(path))
    home = home or path.parent
    tests_dir = home / "tests"
    files = list(case_files) or sorted(tests_dir.glob("*.yaml"))
    if not files:
        print(f"没有找到用例（no case files in {tests_dir}）", file=sys.stderr)
        return 1
    results = run_cases(compiled, load_cases(files, home / "samples"))
    for result in results:
        case = result.case
        if result.passed and not verbose:
            continue
        mark = "✔" if result.passed else "✘"
        print(f"{mark} {case.source}:{case.line} {case.name} → {result.rule_id}")
        for failure in result.failures:
            print(f"    {failure}")
    missing = uncovered(compiled, results)
    if missing:
        print(f"提示：以下规则没有用例覆盖（no case ends on）：{', '.join(missing)}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


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
