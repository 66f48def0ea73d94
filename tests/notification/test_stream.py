"""StreamNotifications: a dashboard that disconnects and resumes misses nothing and sees
nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterable

import grpc

from fengqiao.stack import Stack
from fengqiao.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually


async def take(
    stream: AsyncIterable[notification_pb2.Notification], n: int
) -> list[notification_pb2.Notification]:
    out = []
    async for item in stream:
        out.append(item)
        if len(out) == n:
            break
    return out


async def test_a_resumed_stream_misses_nothing_and_repeats_nothing(
    intake_channel: grpc.aio.Channel, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    first_id = await routed_dispute(intake, "01")
    second_id = await routed_dispute(intake, "02")  # the same grid: the same grid worker
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as channel:
        notify = notification_pb2_grpc.NotificationServiceStub(channel)
        listed = await notify.ListNotifications(
            notification_pb2.ListNotificationsRequest(dispute_id=first_id)
        )
        worker = next(
            n.recipient_id for n in listed.notifications if n.recipient_role == "grid_worker"
        )

        call = notify.StreamNotifications(
            notification_pb2.StreamNotificationsRequest(recipient_id=worker)
        )
        seen = await take(call, 1)
        call.cancel()  # the dashboard drops off after one

        # While it is away: the first dispute fails mediation and climbs, and the grid
        # worker is told again.
        for kind in ("accepted", "mediation_started"):
            await intake.RecordEvent(event(first_id, kind))
        await intake.RecordEvent(event(first_id, "mediation_failed", reason="分歧较大"))
        await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=first_id)),
            lambda r: r.step == 2 and r.timeline[-1].kind == "notified",
        )
        resumed = notify.StreamNotifications(
            notification_pb2.StreamNotificationsRequest(
                recipient_id=worker, from_sequence=seen[-1].sequence + 1
            )
        )
        rest = await take(resumed, 2)
        resumed.cancel()

    everything = seen + rest
    assert [n.dispute_id for n in everything] == [first_id, second_id, first_id]
    assert [n.event for n in everything] == ["routed", "routed", "escalated"]
    assert len({n.id for n in everything}) == 3
    assert [n.sequence for n in everything] == sorted(n.sequence for n in everything)
    assert all(n.recipient_id == worker for n in everything)
    assert "升级" in everything[-1].message and "街道联合调解" in everything[-1].message
