"""Notification over real NATS and gRPC: one per recipient, however often redelivered."""

from __future__ import annotations

import grpc
import pytest

from fengqiao.platform.bus import connect
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.conftest import sample
from tests.support import eventually


async def test_one_notification_per_recipient_even_when_the_decision_is_redelivered(
    intake_channel: grpc.aio.Channel, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = (await intake.SubmitDispute(sample("18"))).dispute_id
    await eventually(
        lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
        lambda r: any(e.kind == "notified" for e in r.timeline),
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as channel:
        notify = notification_pb2_grpc.NotificationServiceStub(channel)
        by_dispute = notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
        first = await notify.ListNotifications(by_dispute)
        roles = sorted(n.recipient_role for n in first.notifications)
        parties = len(sample("18").dispute.parties)
        assert roles == sorted(
            ["street_governance_centre", "grid_worker", "police_station"] + ["party"] * parties
        )

        bus = await connect(stack.settings.nats_url, "probe")
        try:
            stored = await bus.js.get_last_msg("DISPUTES", f"disputes.routed.{dispute_id}")
            assert stored.subject is not None
            ack = await bus.js.publish(
                stored.subject, stored.data or b"", headers={"Nats-Msg-Id": "replayed"}
            )
            await eventually(
                lambda: bus.js.consumer_info("DISPUTES", "notification"),
                lambda c: c.ack_floor.stream_seq >= ack.seq,
            )
        finally:
            await bus.close()
        again = await notify.ListNotifications(by_dispute)
        assert [n.id for n in again.notifications] == [n.id for n in first.notifications]

        police = next(n for n in first.notifications if n.recipient_role == "police_station")
        mine = await notify.ListNotifications(
            notification_pb2.ListNotificationsRequest(recipient_id=police.recipient_id)
        )
        assert [n.id for n in mine.notifications] == [police.id]
        worker = next(n for n in first.notifications if n.recipient_role == "grid_worker")
        both = await notify.ListNotifications(
            notification_pb2.ListNotificationsRequest(
                dispute_id=dispute_id, recipient_id=worker.recipient_id
            )
        )
        assert [n.id for n in both.notifications] == [worker.id]

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await notify.ListNotifications(notification_pb2.ListNotificationsRequest())
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    assert [e.kind for e in record.timeline].count("notified") == 1
