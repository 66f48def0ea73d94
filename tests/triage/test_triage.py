"""Triage over real NATS and gRPC: the dry run, the policy, and idempotent routing."""

from __future__ import annotations

import hashlib

import grpc
import pytest
import structlog
from structlog.testing import capture_logs

from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.codec import encode
from fengqiao.stack import Stack
from fengqiao.v1 import (
    dispute_pb2,
    events_pb2,
    intake_pb2,
    intake_pb2_grpc,
    triage_pb2,
    triage_pb2_grpc,
)
from tests.conftest import POLICY, sample
from tests.support import eventually


@pytest.fixture
async def triage(stack: Stack) -> triage_pb2_grpc.TriageServiceAsyncStub:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('triage')}")
    return triage_pb2_grpc.TriageServiceStub(channel)


async def test_evaluate_explains_and_changes_nothing(
    triage: triage_pb2_grpc.TriageServiceAsyncStub,
    intake_channel: grpc.aio.Channel,
    stack: Stack,
) -> None:
    response = await triage.Evaluate(triage_pb2.EvaluateRequest(dispute=sample("13").dispute))
    assert response.decision.route == dispute_pb2.ROUTE_COURT_FAST_TRACK
    assert response.decision.rule_id == "small-claim-fast-track"
    assert [t.matched for t in response.trace] == [False] * (len(response.trace) - 1) + [True]
    assert response.trace[-1].rule_id == "small-claim-fast-track"
    assert all(c.satisfied for c in response.trace[-1].conditions)
    assert "50000元" in response.trace[-1].conditions[-1].actual
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    assert list((await intake.ListDisputes(intake_pb2.ListDisputesRequest())).disputes) == []
    bus = await connect(stack.settings.nats_url, "probe")
    try:
        assert (await bus.js.stream_info("DISPUTES")).state.messages == 0
    finally:
        await bus.close()


async def test_evaluate_reads_the_context_and_rejects_invalid_disputes(
    triage: triage_pb2_grpc.TriageServiceAsyncStub,
) -> None:
    noise = sample("01").dispute
    plain = await triage.Evaluate(triage_pb2.EvaluateRequest(dispute=noise))
    repeated = await triage.Evaluate(
        triage_pb2.EvaluateRequest(
            dispute=noise, context=triage_pb2.PolicyContext(similar_recent=2)
        )
    )
    assert (plain.decision.rule_id, repeated.decision.rule_id) == (
        "neighbour-and-property",
        "repeat-neighbour",
    )
    bad = dispute_pb2.Dispute()
    bad.CopyFrom(noise)
    bad.amount_fen = -1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await triage.Evaluate(triage_pb2.EvaluateRequest(dispute=bad))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_evaluate_an_event_goes_through_the_escalation_rules(
    triage: triage_pb2_grpc.TriageServiceAsyncStub,
) -> None:
    request = triage_pb2.EvaluateRequest(
        dispute=sample("01").dispute,
        context=triage_pb2.PolicyContext(current_level=dispute_pb2.ROUTE_STREET_OFFICE),
        event="deadline_expired",
    )
    response = await triage.Evaluate(request)
    assert response.decision.rule_id == "escalate-street-leader"
    assert response.decision.handler == "street_leader"
    assert [t.rule_id for t in response.trace][:2] == ["escalate-risk", "escalate-repeat"]
    request.event = "mediation_succeeded"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await triage.Evaluate(request)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_get_policy_names_the_file_content_hash(
    triage: triage_pb2_grpc.TriageServiceAsyncStub,
) -> None:
    policy = await triage.GetPolicy(triage_pb2.GetPolicyRequest())
    assert policy.version == hashlib.sha256(POLICY.read_bytes()).hexdigest()
    assert policy.rule_ids[0] == "risk-first" and policy.rule_ids[-1] == "default-local"


async def test_redelivered_submission_is_routed_and_logged_once(
    intake_channel: grpc.aio.Channel, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        submitted = await intake.SubmitDispute(sample("07"))
        dispute_id = submitted.dispute_id
        await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            lambda r: any(e.kind == "notified" for e in r.timeline),
        )
        # The same fact again under a new message id, as after a publisher crash outside
        # the duplicate window: the server cannot drop it, triage must.
        bus: Bus = await connect(stack.settings.nats_url, "probe")
        try:
            record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
            event = events_pb2.DisputeEvent(
                event_id=f"submitted-{dispute_id}",
                dispute_id=dispute_id,
                kind="submitted",
                dispute=record.dispute,
            )
            ack = await bus.js.publish(
                f"disputes.submitted.{dispute_id}",
                encode(event),
                headers={"Nats-Msg-Id": "replayed"},
            )
            consumer = await eventually(
                lambda: bus.js.consumer_info("DISPUTES", "triage"),
                lambda c: c.ack_floor.stream_seq >= ack.seq,
            )
            assert consumer.num_pending == 0
            routed = await bus.js.stream_info("DISPUTES", subjects_filter="disputes.routed.>")
        finally:
            await bus.close()
    after = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    assert [e.kind for e in after.timeline] == ["received", "routed", "notified"]
    assert routed.state.subjects == {f"disputes.routed.{dispute_id}": 1}
    (line,) = [e for e in logs if e["event"] == "dispute_routed"]
    assert line["dispute_id"] == dispute_id
    assert line["rule_id"] == "risk-first" and line["route"] == "street_office"
    assert line["priority"] == "urgent" and line["policy_version"] == after.decision.policy_version
    assert "威胁" in line["reason"] and line["deadline"]
