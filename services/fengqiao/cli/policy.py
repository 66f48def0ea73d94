"""`fengqiao rules publish | versions | rollback | explain --dispute`: putting a policy
version in force on every triage replica, and reading what decided a stored dispute.

Publishing and rolling back need a NATS user that may write the `policies` bucket
(`policy` in deploy/nats/auth.conf); explaining a stored dispute reads it from intake and
its version from triage, over gRPC."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc
from nats.js import JetStreamContext

from fengqiao import publishing
from fengqiao.cli.rules import show_explained, show_review
from fengqiao.domain.errors import FengqiaoError
from fengqiao.domain.model import local_minute
from fengqiao.domain.vocabulary import TRIGGERS, label
from fengqiao.platform.bus import connect
from fengqiao.platform.convert import record_from_proto
from fengqiao.platform.grpc_tls import GrpcTls
from fengqiao.platform.policies import PolicyStore, source_of
from fengqiao.platform.settings import Settings
from fengqiao.policy import CompiledPolicy, parse_policy, read_policy_file
from fengqiao.policy.deadlines import CHINA
from fengqiao.policy.history import steps_of
from fengqiao.policy.impact import differences
from fengqiao.policy.replay import outcome
from fengqiao.publishing import Draft, review
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, triage_pb2, triage_pb2_grpc

_ACTIONS = {"publish": "发布", "rollback": "回滚", "bootstrap": "初始"}


@asynccontextmanager
async def policy_store(settings: Settings) -> AsyncIterator[tuple[PolicyStore, JetStreamContext]]:
    """The `policies` bucket, as the configured NATS user, for one command."""
    bus = await connect(settings.nats_url, "cli", settings.nats)
    try:
        yield PolicyStore(bus.policies), bus.js
    finally:
        await bus.close()


async def publish(
    settings: Settings, path: Path, directory: Path | None, comment: str, by: str
) -> int:
    """Check (strict) and test `path`, then store it as a new version and activate it.
    A file failing either is not stored: exit 1."""
    if not comment.strip():
        print("请用 --comment 说明这次修改（say why with --comment）", file=sys.stderr)
        return 2
    home = path.parent if (path.parent / "tests").is_dir() else settings.policy_file.parent
    draft = Draft(read_policy_file(path), str(path), home, directory)
    reviewed = review(draft, datetime.now(CHINA).date())
    show_review(path, reviewed)
    if not reviewed.passed:
        print(f"{path}: 未通过检查或用例，未发布（not published: check or tests failed）",
              file=sys.stderr)  # fmt: skip
        return 1
    async with policy_store(settings) as (store, _):
        done = await publishing.publish(
            store, reviewed, comment=comment, by=by, now=datetime.now(UTC)
        )
    again = "" if done.new else "（此前已发布过，重新启用 already published: activated again）"
    print(f"已发布并启用（published and active）: {done.version[:12]} {done.label}{again}")
    print("各分流服务副本收到后即按此版本决定；办理中的当前步骤仍按原版本（replicas switch now）")
    return 0


async def versions(settings: Settings) -> int:
    """Every published version, oldest first, the active one marked; then the log."""
    async with policy_store(settings) as (store, js):
        published = await store.versions(js)
        log = await store.activations(js)
    active = log[-1].version if log else ""
    print("  版本号        标签\t发布人\t发布时间\t说明")
    for v in published:
        mark = "*" if v.version == active else " "
        at = local_minute(v.published_at)
        print(f"{mark} {v.version[:12]}  {v.label}\t{v.published_by}\t{at}\t{v.comment}")
    print("启用记录（activations）:")
    for a in log:
        what = _ACTIONS.get(a.action, a.action)
        at = local_minute(a.activated_at)
        print(f"  {at}  {what}  {a.version[:12]}  {a.activated_by}  {a.comment}")
    print(f"共 {len(published)} 个版本，* 为现行版本（* active）")
    return 0


async def rollback(settings: Settings, named: str, comment: str, by: str) -> int:
    """Put a published version back in force on every replica."""
    async with policy_store(settings) as (store, js):
        try:
            done = await publishing.rollback(
                store, js, named, comment=comment, by=by, now=datetime.now(UTC)
            )
        except FengqiaoError as exc:
            print(exc, file=sys.stderr)
            return 1
    version = done.version
    if done.already_active:
        print(f"{version.version[:12]} 已是现行版本（already active）")
        return 0
    print(f"已回滚并启用（rolled back, active）: {version.version[:12]} {version.label}")
    return 0


async def explain_stored(
    dispute_id: str, step_number: int, intake: str, triage: str, tls: GrpcTls, *, as_json: bool
) -> int:
    """Decide a stored dispute's step again under the version that decided it, with the
    context it had, and say whether that is what was recorded (exit 1 if not)."""
    try:
        async with tls.channel(intake) as channel:
            stored = await intake_pb2_grpc.IntakeServiceStub(channel).GetDispute(
                intake_pb2.GetDisputeRequest(dispute_id=dispute_id)
            )
        record = record_from_proto(stored)
        steps = steps_of(record)
        if not steps:
            print(f"{dispute_id} 尚未分流（not decided yet）", file=sys.stderr)
            return 1
        if not 1 <= (step_number or len(steps)) <= len(steps):
            print(
                f"{dispute_id} 只有 {len(steps)} 步（it has {len(steps)} steps）", file=sys.stderr
            )
            return 2
        step = steps[(step_number or len(steps)) - 1]
        async with tls.channel(triage) as channel:
            version = await triage_pb2_grpc.TriageServiceStub(channel).GetPolicy(
                triage_pb2.GetPolicyRequest(version=step.policy_version)
            )
    except grpc.aio.AioRpcError as exc:
        print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    compiled = CompiledPolicy(parse_policy(version.text.encode(), source_of(version.version)))
    if not as_json:
        print(f"纠纷 {dispute_id} 第 {step.number} 步（{label(TRIGGERS, step.trigger)}），"
              f"{local_minute(step.at)}，"
              f"按版本 {version.version[:12]}（{version.label}，{version.published_by} "
              f"发布：{version.comment}）重新决定：")  # fmt: skip
        if not step.exact:
            print("提示：此步记录于保存决定上下文之前，近期同类/同一当事人计数按 0 计"
                  "（recorded before contexts were kept）")  # fmt: skip
    shown = show_explained(compiled, step.dispute, step.context, step.trigger, step.at,
                           as_json=as_json)  # fmt: skip
    again = compiled.decide(step.dispute, step.context, step.at, step.trigger)
    current = step.number == len(steps) and record.decision is not None
    same = again.rule_id == step.rule_id and again.route == step.route
    if current and record.decision is not None:
        same = same and outcome(again) == outcome(record.decision)
    if as_json:
        return shown or (0 if same else 1)
    if same:
        print("与记录的决定一致（the same as the stored decision）")
        return shown
    print("与记录的决定不一致（differs from the stored decision）:", file=sys.stderr)
    if current and record.decision is not None:
        for line in differences(record.decision, again):
            print(f"    {line}", file=sys.stderr)
    else:
        print(f"    规则 {step.rule_id} → {again.rule_id}", file=sys.stderr)
    return 1
