"""`fengqiao rules replay DRAFT`: what a draft would have done to the stored history, in
words or as JSON. Writes nothing.

The history is read from the read model (`readmodel/history.py`), not from the disputes
bucket's stream: the rows are indexed by received time and by street, so `--from/--to`
and `--street` read one index range instead of every record on the bus, and a replay
puts no load on the nats-server the services depend on. The rows hold the stored bytes
of each record, so nothing is lost by it. The published versions (what decided each step)
come from the `policies` bucket."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from fengqiao.cli.policy import policy_store
from fengqiao.domain.model import Decision
from fengqiao.domain.vocabulary import CATEGORIES, label
from fengqiao.platform.settings import Settings
from fengqiao.policy import CompiledPolicy, load_policy
from fengqiao.policy.deadlines import CHINA
from fengqiao.policy.replay import ROUTING, ReplayReport
from fengqiao.publishing import replay_history
from fengqiao.readmodel.history import open_history

_KINDS = {ROUTING: "分流", "escalation": "升级"}


async def run(
    settings: Settings,
    draft_file: Path,
    first: date | None,
    last: date | None,
    street: str,
    *,
    as_json: bool,
) -> int:
    draft = CompiledPolicy(load_policy(draft_file))
    async with policy_store(settings) as (store, js):
        published = await store.versions(js)
        active = await store.active()
    engine = open_history(settings)
    try:
        report = replay_history(
            engine,
            published,
            active,
            draft,
            first=first,
            last=last,
            street=street,
        )
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(as_document(report, draft), ensure_ascii=False, indent=2))
    else:
        print_report(report, draft, draft_file)
    return 0


def _decision(d: Decision) -> dict[str, Any]:
    return {
        "rule_id": d.rule_id,
        "route": d.route.value,
        "handler": d.handler,
        "priority": d.priority.value,
        "deadline": d.deadline.isoformat(),
        "notify": list(d.notify),
        "policy_version": d.policy_version,
    }


def _count_rows(report: ReplayReport) -> list[tuple[str, str, str, str, int, int]]:
    keys = sorted(set(report.before) | set(report.after))
    return [(*k, report.before[k], report.after[k]) for k in keys]


def as_document(report: ReplayReport, draft: CompiledPolicy) -> dict[str, Any]:
    return {
        "draft": {"version": draft.version, "label": draft.policy.label},
        "disputes": report.disputes,
        "steps": report.steps,
        "counts": [
            {"category": c, "street": s, "kind": k, "route": r, "before": b, "after": a}
            for c, s, k, r, b, a in _count_rows(report)
        ],
        "changed": [
            {
                "dispute_id": d.dispute_id,
                "category": d.category,
                "street": d.street,
                "steps": [
                    {
                        "step": c.step.number,
                        "trigger": c.step.trigger,
                        "at": c.step.at.isoformat(),
                        "before": _decision(c.before),
                        "after": _decision(c.after),
                        "differences": list(c.differences),
                    }
                    for c in d.steps
                ],
            }
            for d in report.changed
        ],
        "unknown_versions": dict(report.unknown_versions),
        "not_reproduced": report.not_reproduced,
        "anonymised_skipped": report.anonymised_skipped,
    }


def print_report(report: ReplayReport, draft: CompiledPolicy, draft_file: Path) -> None:
    print(f"重放（replay）：草案 {draft_file}（{draft.policy.label}，{draft.version[:12]}）")
    print(f"共 {report.disputes} 件纠纷、{report.steps} 个决定步骤（分流与每次升级）")
    print("按类别 × 街道 × 去向的决定数，原 → 草案（✎ 有变化）：")
    for category, street, kind, route, before, after in _count_rows(report):
        mark = "✎" if before != after else " "
        print(f" {mark} {label(CATEGORIES, category)}\t{street}\t{_KINDS[kind]}\t{route}\t"
              f"{before} → {after}")  # fmt: skip
    for change in report.changed:
        print(f"✎ {change.dispute_id}  {label(CATEGORIES, change.category)}  {change.street}")
        for c in change.steps:
            print(f"    第 {c.step.number} 步（{c.step.trigger}，"
                  f"{c.step.at.astimezone(CHINA):%Y-%m-%d %H:%M}）：规则 {c.before.rule_id} → "
                  f"{c.after.rule_id}")  # fmt: skip
            for line in c.differences:
                print(f"        {line}")
    steps = sum(len(c.steps) for c in report.changed)
    print(
        f"共 {report.disputes} 件：{len(report.changed)} 件（{steps} 步）结果改变"
        f"（{len(report.changed)} disputes, {steps} steps would change）"
    )
    if report.unknown_versions:
        print(f"提示：{sum(report.unknown_versions.values())} 步由未在总线发布的版本决定，"
              "按现行版本作为“原”比较（steps of versions not on the bus: compared with the "
              "active version）", file=sys.stderr)  # fmt: skip
    if report.not_reproduced:
        print(f"提示：{report.not_reproduced} 步按原版本重算的规则与记录不同"
              "（steps not reproduced by their own version）", file=sys.stderr)  # fmt: skip
    if report.anonymised_skipped:
        print(f"提示：{report.anonymised_skipped} 件已脱敏纠纷未重放（anonymised, skipped）",
              file=sys.stderr)  # fmt: skip
