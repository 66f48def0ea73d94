"""A dispute's current step keeps the policy version that decided it when another is
published; its next step is decided by the version in force then, the timeline says the
version changed, and `fengqiao rules explain --dispute` decides each step again under its
own version with the context it had, to the same result."""

from __future__ import annotations

import asyncio
import os
import sys
from functools import partial

import grpc

from fengqiao.platform.bus import Bus
from fengqiao.policy import policy_version
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, triage_pb2, triage_pb2_grpc
from tests.conftest import POLICY, ROOT
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually
from tests.triage.policies import put_in_force, relabelled


async def explain_stored(stack: Stack, dispute_id: str, *more: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "rules", "explain", "--dispute", dispute_id, *more,
        cwd=ROOT,
        env={
            **os.environ,
            "FENGQIAO_INTAKE_ADDR": f"127.0.0.1:{stack.port('intake')}",
            "FENGQIAO_TRIAGE_ADDR": f"127.0.0.1:{stack.port('triage')}",
        },
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_current_step_keeps_its_version_and_the_next_takes_the_new(
    stack: Stack, bus: Bus, intake_channel: grpc.aio.Channel
) -> None:
    first = policy_version(POLICY.read_bytes())
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake, "12")
    get = partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    second = await put_in_force(bus, relabelled("修订一"))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('triage')}") as channel:
        triage = triage_pb2_grpc.TriageServiceStub(channel)
        await eventually(
            lambda: triage.GetPolicy(triage_pb2.GetPolicyRequest()), lambda p: p.version == second
        )
    assert (await get()).decision.policy_version == first  # nothing decided it again

    for kind in ("accepted", "mediation_started"):
        await intake.RecordEvent(event(dispute_id, kind))
    await intake.RecordEvent(event(dispute_id, "mediation_failed", reason="双方分歧较大"))
    record = await eventually(get, lambda r: r.step == 2)

    decided = [e for e in record.timeline if e.kind in ("routed", "escalated", "policy_changed")]
    assert [(e.kind, e.policy_version) for e in decided] == [
        ("routed", first), ("policy_changed", second), ("escalated", second),
    ]  # fmt: skip
    assert first[:12] in decided[1].summary and second[:12] in decided[1].summary
    assert record.decision.policy_version == second
    assert decided[2].context.times_escalated == 0  # escalated no time before this

    for step in ("1", "2"):
        code, out = await explain_stored(stack, dispute_id, "--step", step)
        assert code == 0, out
        assert "与记录的决定一致" in out
    code, out = await explain_stored(stack, dispute_id, "--step", "1")
    assert f"按版本 {first[:12]}" in out and f"✔ 命中  {decided[0].rule_id}" in out
    code, out = await explain_stored(stack, dispute_id)
    assert f"按版本 {second[:12]}" in out and f"✔ 命中  {decided[2].rule_id}" in out
