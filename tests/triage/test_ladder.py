"""The escalation ladder over real NATS: deadlines as scheduled messages, events, repeats."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from fengqiao.platform.bus import connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import Stack, running
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from tests.conftest import FAST_POLICY, sample, settings_for
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually


def escalations(record: dispute_pb2.DisputeRecord) -> list[tuple[int, int, str, str]]:
    return [
        (e.from_route, e.route, e.trigger, e.rule_id)
        for e in record.timeline
        if e.kind == "escalated"
    ]


async def test_a_dispute_left_alone_climbs_the_ladder_by_itself(fast_stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fast_stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
        record = await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            lambda r: r.step == 3,
        )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fast_stack.port('notification')}") as ch:
        notify = notification_pb2_grpc.NotificationServiceStub(ch)
        told = await eventually(
            lambda: notify.ListNotifications(
                notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
            ),
            lambda r: any(n.event == "deadline_near" for n in r.notifications),
        )
    near = [
        n
        for n in told.notifications
        if n.event == "deadline_near" and n.id.split(".")[1].endswith("-1")
    ]
    assert {n.recipient_role for n in near} == {"grid_worker"}  # step 1's people, not parties
    assert near[0].message.startswith("【临期提醒】")
    local, street = dispute_pb2.ROUTE_LOCAL, dispute_pb2.ROUTE_STREET_OFFICE
    assert escalations(record) == [
        (local, street, "deadline_expired", "up-from-local"),
        (street, street, "deadline_expired", "leader"),
    ]
    assert record.decision.handler == "street_leader"
    assert record.decision.priority == dispute_pb2.PRIORITY_URGENT
    climbed = [e for e in record.timeline if e.kind == "escalated"]
    assert all(e.policy_version == record.decision.policy_version for e in climbed)
    assert "办理期限届满" in climbed[0].summary and "移交街道" in climbed[0].summary
    assert "领导包案" in climbed[1].summary


async def test_mediation_failed_escalates_and_closing_cancels_the_deadline(
    fast_stack: Stack,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fast_stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        dispute_id = await routed_dispute(intake)
        for kind in ("accepted", "mediation_started"):
            await intake.RecordEvent(event(dispute_id, kind))
        await intake.RecordEvent(event(dispute_id, "mediation_failed", reason="双方分歧过大"))
        record = await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            lambda r: r.step == 2,
        )
        assert escalations(record)[0][2:] == ("mediation_failed", "up-from-local")
        await intake.RecordEvent(event(dispute_id, "accepted"))
        closed = await intake.RecordEvent(event(dispute_id, "resolved", reason="达成和解"))
        bus = await connect(fast_stack.settings.nats_url, "probe")
        try:
            schedules = f"disputes.schedule.*.{dispute_id}.*"
            # The deadline and response schedules are purged; only the follow-up remains.
            await eventually(
                lambda: bus.js.stream_info("DISPUTES", subjects_filter=schedules),
                lambda info: all("followup" in s for s in info.state.subjects or {}),
            )
        finally:
            await bus.close()
        # The follow-up visit falls due after the cancelled deadline would have fired.
        record = await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            lambda r: any(e.event_id.startswith("notified-follow_up_due") for e in r.timeline),
        )
    assert record.step == closed.step == 2
    assert record.status == dispute_pb2.DISPUTE_STATUS_RESOLVED
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fast_stack.port('notification')}") as ch:
        notify = notification_pb2_grpc.NotificationServiceStub(ch)
        told = await notify.ListNotifications(
            notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
        )
    visits = [n for n in told.notifications if n.event == "follow_up_due"]
    assert {n.recipient_role for n in visits} == {"grid_worker", "community_mediation_room"}
    assert all("回访提醒" in n.message for n in visits)


async def test_an_agreement_tells_the_parties_of_judicial_confirmation(
    intake_channel: grpc.aio.Channel, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    for kind in ("accepted", "mediation_started", "agreement_reached"):
        await intake.RecordEvent(event(dispute_id, kind))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as ch:
        notify = notification_pb2_grpc.NotificationServiceStub(ch)
        told = await eventually(
            lambda: notify.ListNotifications(
                notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
            ),
            lambda r: (
                sum(n.event == "agreement_reached" for n in r.notifications)
                == len(sample("01").dispute.parties)
            ),
        )
    notices = [n for n in told.notifications if n.event == "agreement_reached"]
    assert len(notices) == len(sample("01").dispute.parties)
    assert all(n.recipient_role == "party" and "司法确认" in n.message for n in notices)


async def test_a_third_complaint_from_the_same_grid_follows_the_repeat_rule(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    decided = []
    for n in range(3):
        request = sample("01")
        request.request_id = f"noise-{n}"
        request.dispute.summary += f"（第{n + 1}次反映）"
        dispute_id = await routed_dispute_from(intake, request)
        record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
        decided.append(record.decision.rule_id)
    assert decided == ["neighbour-and-property", "neighbour-and-property", "repeat-neighbour"]


async def routed_dispute_from(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, request: intake_pb2.SubmitDisputeRequest
) -> str:
    dispute_id = (await intake.SubmitDispute(request)).dispute_id
    await eventually(
        lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
        lambda r: r.step >= 1,
    )
    return dispute_id


@pytest.mark.parametrize("kind", ["escalation_requested", "risk_raised"])
async def test_a_dispute_can_always_be_escalated_by_an_explicit_event(
    intake_channel: grpc.aio.Channel, kind: str
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    fields = (
        {"reason": "当事人情绪激动"}
        if kind == "escalation_requested"
        else {"risk_flags": ["threat"]}
    )
    await intake.RecordEvent(event(dispute_id, kind, **fields))
    record = await eventually(
        lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
        lambda r: r.step == 2,
    )
    ((_, route, trigger, _),) = escalations(record)
    assert (route, trigger) == (dispute_pb2.ROUTE_STREET_OFFICE, kind)


async def test_a_dispute_nobody_accepts_in_time_escalates_and_acceptance_stops_that(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    text = FAST_POLICY.read_text(encoding="utf-8")
    text = text.replace("  response: {hours: 1}", "  response: {seconds: 2}")
    policy.write_text(text.replace("deadline: {seconds: 2}", "deadline: {hours: 1}"), "utf-8")
    names = ("intake", "triage", "notification")
    async with (
        running(settings_for(nats_server.url, policy), names) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        ignored = (await intake.SubmitDispute(sample("01"))).dispute_id
        taken = await routed_dispute(intake, "02")
        await intake.RecordEvent(event(taken, "accepted"))
        record = await eventually(
            lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=ignored)),
            lambda r: r.step == 2,
        )
        assert escalations(record)[0][2:] == ("response_expired", "up-from-local")
        bus = await connect(stack.settings.nats_url, "probe")
        try:
            # Acceptance cancels the response timer: its schedule is gone from the stream.
            await eventually(
                lambda: bus.js.stream_info(
                    "DISPUTES", subjects_filter=f"disputes.schedule.response.{taken}.*"
                ),
                lambda info: not info.state.subjects,
            )
            # ... and the timer consumer has seen every timer that fired, the other's too.
            await eventually(
                lambda: bus.js.consumer_info("DISPUTES", "triage-timers-response"),
                lambda c: c.num_pending == 0 and c.num_ack_pending == 0,
            )
        finally:
            await bus.close()
        other = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=taken))
    assert (other.step, other.status) == (1, dispute_pb2.DISPUTE_STATUS_ACCEPTED)
