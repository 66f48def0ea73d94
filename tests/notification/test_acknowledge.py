"""Acknowledgement: confirmed notifications rest; the others are reminded, then the
recipient's next level up is told, all in the dispute's timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from fengqiao.notification import acks
from fengqiao.notification.acks import AckStage
from fengqiao.platform.bus import connect
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from fengqiao.v1.events_pb2 import DisputeEvent
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
    async with _one_dispute(nats_server.url, policy) as (intake, notify, dispute_id):
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


@asynccontextmanager
async def _one_dispute(
    nats_url: str, policy: Path
) -> AsyncIterator[
    tuple[
        intake_pb2_grpc.IntakeServiceAsyncStub,
        notification_pb2_grpc.NotificationServiceAsyncStub,
        str,
    ]
]:
    """The three services under `policy`, sample 01 submitted: their stubs and its id."""
    names = ("intake", "triage", "notification")
    async with (
        running(settings_for(nats_url, policy), names) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as intake_ch,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as notify_ch,
    ):
        intake: intake_pb2_grpc.IntakeServiceAsyncStub = intake_pb2_grpc.IntakeServiceStub(
            intake_ch
        )
        notify: notification_pb2_grpc.NotificationServiceAsyncStub = (
            notification_pb2_grpc.NotificationServiceStub(notify_ch)
        )
        dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
        yield intake, notify, dispute_id


def _policy_telling_two_institutions(tmp_path: Path) -> Path:
    """The drill policy with an hour to respond and to decide, telling the grid worker,
    the community mediation room and the party of a local assignment."""
    policy = tmp_path / "policy.yaml"
    text = FAST_POLICY.read_text(encoding="utf-8")
    text = text.replace("deadline: {seconds: 2}", "deadline: {hours: 1}")
    text = text.replace(
        "notify: [grid_worker, party]", "notify: [grid_worker, community_mediation_room, party]"
    )
    policy.write_text(text, encoding="utf-8")
    return policy


async def test_one_acknowledgement_timer_waits_for_the_whole_assignment(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """An assignment schedules one timer for all of its notifications that need an
    acknowledgement, not one per recipient."""
    policy = _policy_telling_two_institutions(tmp_path)
    async with _one_dispute(nats_server.url, policy) as (intake, notify, dispute_id):
        await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            lambda r: any(e.kind == "notified" for e in r.timeline),
        )
        told = await notify.ListNotifications(
            notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
        )
        bus = await connect(nats_server.url, "probe")
        try:
            schedules = f"disputes.schedule.ack.{dispute_id}.>"
            info = await bus.js.stream_info("DISPUTES", subjects_filter=schedules)
            timer = f"disputes.schedule.ack.{dispute_id}.routed-{dispute_id}-1"
            assert info.state.subjects == {timer: 1}
            fact = decode(
                (await bus.js.get_last_msg("DISPUTES", timer)).data or b"", DisputeEvent()
            )
        finally:
            await bus.close()
    waiting = {n.id for n in told.notifications if n.needs_ack}
    assert len(waiting) == 2  # the grid worker and the mediation room, not the party
    assert (fact.kind, fact.step) == ("ack_due", 1)
    assert fact.event_id == f"ack_due-1-{dispute_id}.routed-{dispute_id}-1"
    assert set(fact.notification_ids) == waiting


def test_the_stages_of_an_ack_timer_are_the_deployed_wire_values() -> None:
    """Scheduled timers and their ids hold these numbers: 1 reminds, 2 tells the level up."""
    assert [(s.name, s.value, f"{s:d}") for s in AckStage] == [
        ("REMIND", 1, "1"),
        ("ESCALATE", 2, "2"),
    ]
    assert (acks.REMINDER, acks.OVERDUE) == ("ack_reminder", "ack_overdue")


async def test_a_timer_of_one_notification_still_reminds_then_tells_the_level_up(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """Timers scheduled by earlier versions, one per notification and keyed by its id,
    still work after an upgrade."""
    policy = _policy_telling_two_institutions(tmp_path)
    async with _one_dispute(nats_server.url, policy) as (_, notify, dispute_id):
        by_dispute = notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
        first = await eventually(
            lambda: notify.ListNotifications(by_dispute), lambda r: len(r.notifications) >= 3
        )
        grid = next(n for n in first.notifications if n.recipient_role == "grid_worker")
        bus = await connect(nats_server.url, "probe")
        try:
            # What an earlier version's schedule delivers when it fires.
            fired = DisputeEvent(
                event_id=f"ack_due-1-{grid.id}", dispute_id=dispute_id, kind="ack_due", step=1
            )
            await bus.js.publish(f"disputes.timer.ack.{grid.id}", encode(fired))
        finally:
            await bus.close()
        told = await eventually(
            lambda: notify.ListNotifications(by_dispute),
            lambda r: any(n.event == "ack_overdue" for n in r.notifications),
        )
    reminded = [n for n in told.notifications if n.event == "ack_reminder"]
    assert [n.recipient_role for n in reminded] == ["grid_worker"]
    overdue = [n for n in told.notifications if n.event == "ack_overdue"]
    assert [n.recipient_role for n in overdue] == ["community_mediation_room"]
    assert grid.recipient_label in overdue[0].message
