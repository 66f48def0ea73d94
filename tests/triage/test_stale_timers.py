"""A timer that fires late changes nothing: one for a step the dispute has left, one for
a closed dispute, and the same timer delivered twice escalates once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from structlog.testing import capture_logs

from fengqiao.platform import timers
from fengqiao.platform.bus import STREAM, TIMER, Bus, connect
from fengqiao.platform.codec import encode
from fengqiao.platform.topology import SUBSCRIPTIONS
from fengqiao.stack import Stack
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually


@pytest.fixture
async def probe(stack: Stack) -> AsyncIterator[Bus]:
    bus = await connect(stack.settings.nats_url, "probe")
    try:
        yield bus
    finally:
        await bus.close()


async def fire(bus: Bus, dispute_id: str, step: int) -> None:
    """Deliver a step's deadline as its schedule would, and wait until triage handled it."""
    key, fact = timers.step_timer(timers.DEADLINE, dispute_id, step)
    subject = f"{TIMER}.{timers.DEADLINE}.{key}"
    ack = await bus.js.publish(subject, encode(fact))
    durable = next(s.durable for s in SUBSCRIPTIONS if s.subject == f"{TIMER}.{timers.DEADLINE}.>")
    await eventually(
        lambda: bus.js.consumer_info(STREAM, durable),
        lambda c: c.ack_floor.stream_seq >= ack.seq,
    )


async def record(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, dispute_id: str
) -> dispute_pb2.DisputeRecord:
    return await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))


def climbs(r: dispute_pb2.DisputeRecord) -> list[str]:
    return [e.event_id for e in r.timeline if e.kind == "escalated"]


async def test_a_timer_of_a_step_left_behind_or_of_a_closed_dispute_is_skipped(
    intake_channel: grpc.aio.Channel, probe: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    for kind in ("accepted", "mediation_started"):
        await intake.RecordEvent(event(dispute_id, kind))
    await intake.RecordEvent(event(dispute_id, "mediation_failed", reason="分歧较大"))
    climbed = await eventually(lambda: record(intake, dispute_id), lambda r: r.step == 2)

    with capture_logs() as logs:
        await fire(probe, dispute_id, 1)  # step 1's deadline, after the climb
    late = await record(intake, dispute_id)
    assert (late.step, climbs(late)) == (2, climbs(climbed))

    await intake.RecordEvent(event(dispute_id, "accepted"))
    closed = await intake.RecordEvent(event(dispute_id, "resolved", reason="达成和解"))
    with capture_logs() as more:
        await fire(probe, dispute_id, 2)  # the current step's deadline, once closed
    after = await record(intake, dispute_id)
    assert after.status == dispute_pb2.DISPUTE_STATUS_RESOLVED
    assert (after.step, climbs(after)) == (closed.step, climbs(closed))
    skipped = [e for e in [*logs, *more] if e["event"] == "escalation_skipped"]
    assert [(e["step"], e["current_step"], e["status"]) for e in skipped] == [
        (1, 2, "routed"),  # newly assigned to the street office
        (2, 2, "resolved"),
    ]


async def test_the_same_timer_delivered_twice_escalates_once(
    intake_channel: grpc.aio.Channel, probe: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    await fire(probe, dispute_id, 1)
    await fire(probe, dispute_id, 1)
    final = await record(intake, dispute_id)
    assert final.step == 2 and len(climbs(final)) == 1
