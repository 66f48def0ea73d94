"""Acknowledgement: confirmed notifications rest; the others are reminded, then the
recipient's next level up is told, all in the dispute's timeline."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.runtime import running
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.conftest import FAST_POLICY, sample, settings_for
from tests.support import eventually


async def test_unacknowledged_is_reminded_then_the_level_up_is_told(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    text = FAST_POLICY.read_text(encoding="utf-8")
    text = text.replace("  response: {hours: 1}", "  response: {seconds: 2}")
    text = text.replace("deadline: {seconds: 2}", "deadline: {hours: 1}")
    text = text.replace(
        "notify: [grid_worker, party]", "notify: [grid_worker, community_mediation_room, party]"
    )
    policy.write_text(text, encoding="utf-8")
    names = ("intake", "triage", "notification")
    async with (
        running(settings_for(nats_server.url, policy), names) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as intake_ch,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as notify_ch,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(intake_ch)
        notify = notification_pb2_grpc.NotificationServiceStub(notify_ch)
        dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
        by_dispute = notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
        first = await eventually(
            lambda: notify.ListNotifications(by_dispute), lambda r: len(r.notifications) >= 3
        )
        routed = {n.recipient_role: n for n in first.notifications if n.event == "routed"}
        assert routed["grid_worker"].needs_ack and not routed["party"].needs_ack

        room = routed["community_mediation_room"]
        acked = await notify.Acknowledge(
            notification_pb2.AcknowledgeRequest(notification_id=room.id, who="调解员 李华")
        )
        again = await notify.Acknowledge(
            notification_pb2.AcknowledgeRequest(notification_id=room.id, who="别人")
        )
        assert acked.acknowledged_by == again.acknowledged_by == "调解员 李华"
        refusals = [
            (routed["party"].id, grpc.StatusCode.FAILED_PRECONDITION),
            (f"{dispute_id}.nope.{'0' * 20}", grpc.StatusCode.NOT_FOUND),
            (f"{dispute_id}.no pe.0", grpc.StatusCode.INVALID_ARGUMENT),  # not a key at all
        ]
        for bad_id, code in refusals:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await notify.Acknowledge(
                    notification_pb2.AcknowledgeRequest(notification_id=bad_id, who="x")
                )
            assert info.value.code() is code

        told = await eventually(
            lambda: notify.ListNotifications(by_dispute),
            lambda r: any(n.event == "ack_overdue" for n in r.notifications),
        )
        record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))

    step_one = f"routed-{dispute_id}-1"
    reminders = [n for n in told.notifications if n.event == "ack_reminder" and step_one in n.id]
    assert [n.recipient_role for n in reminders] == ["grid_worker"]  # not the one who confirmed
    assert reminders[0].message.startswith("【催办】")
    overdue = [n for n in told.notifications if n.event == "ack_overdue" and step_one in n.id]
    assert [n.recipient_role for n in overdue] == ["community_mediation_room"]
    assert (
        "【督办】" in overdue[0].message
        and routed["grid_worker"].recipient_label in overdue[0].message
    )
    kinds = [e.kind for e in record.timeline]
    assert "acknowledged" in kinds
    assert any(e.event_id == f"notified-ack_overdue-{step_one}" for e in record.timeline)
