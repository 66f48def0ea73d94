"""RecordEvent over real gRPC and NATS: the status machine at the border."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fengqiao.domain.model import DisputeRecord
from fengqiao.platform.bus import Bus
from fengqiao.platform.store import DisputeStore
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.intake.test_intake import violations
from tests.support import eventually

T = TypeVar("T", error_details_pb2.ResourceInfo, error_details_pb2.PreconditionFailure)


async def routed_dispute(intake: intake_pb2_grpc.IntakeServiceAsyncStub, prefix: str = "01") -> str:
    dispute_id = (await intake.SubmitDispute(sample(prefix))).dispute_id
    await eventually(
        lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
        lambda r: (
            r.status == dispute_pb2.DISPUTE_STATUS_ROUTED
            and any(e.kind == "notified" for e in r.timeline)
        ),
    )
    return dispute_id


async def make_overdue(bus: Bus, dispute_id: str, late: timedelta) -> None:
    """Move the dispute's deadline `late` into the past, as when it sits at the top rung
    (where no escalation moves it on) and its deadline passes."""
    deadline = datetime.now(UTC) - late

    def past_deadline(record: DisputeRecord) -> DisputeRecord:
        assert record.decision is not None
        return replace(record, decision=replace(record.decision, deadline=deadline))

    await DisputeStore(bus).update(dispute_id, past_deadline)


def event(
    dispute_id: str, kind: str, event_id: str = "", **fields: object
) -> intake_pb2.RecordEventRequest:
    return intake_pb2.RecordEventRequest(
        dispute_id=dispute_id, event_id=event_id,
        event=dispute_pb2.CaseEvent(kind=kind, actor="网格员 王芳", **fields),  # type: ignore[arg-type]
    )  # fmt: skip


async def test_events_move_the_status_and_colour(intake_channel: grpc.aio.Channel) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    record = await intake.RecordEvent(event(dispute_id, "accepted"))
    assert (record.status, record.colour) == (
        dispute_pb2.DISPUTE_STATUS_ACCEPTED, dispute_pb2.COLOUR_GREEN,
    )  # fmt: skip
    record = await intake.RecordEvent(event(dispute_id, "mediation_started"))
    assert record.colour == dispute_pb2.COLOUR_BLUE
    blue = await intake.ListDisputes(intake_pb2.ListDisputesRequest(colour=dispute_pb2.COLOUR_BLUE))
    assert [d.dispute.id for d in blue.disputes] == [dispute_id]
    record = await intake.RecordEvent(event(dispute_id, "resolved", reason="双方和解"))
    assert (record.colour, record.HasField("closed_at")) == (dispute_pb2.COLOUR_RED, True)
    assert record.timeline[-1].actor == "网格员 王芳"


async def test_an_event_out_of_place_is_failed_precondition_saying_why(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.RecordEvent(event(dispute_id, "agreement_reached"))
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "已分派待受理" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.RecordEvent(event(dispute_id, "mediation_failed"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    assert [e.kind for e in record.timeline] == ["received", "routed", "notified"]  # nothing new


async def test_a_retried_event_id_records_once(intake_channel: grpc.aio.Channel) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    note = event(dispute_id, "note", event_id="client-7", reason="电话联系双方")
    first, second = await intake.RecordEvent(note), await intake.RecordEvent(note)
    assert [e.kind for e in second.timeline].count("note") == 1
    assert first.timeline[-1].event_id == second.timeline[-1].event_id == "client-7"


@pytest.mark.parametrize("event_id", ["a.b", "事件1", "x" * 129, "a b"])
async def test_an_event_id_that_cannot_be_a_key_is_refused(
    intake_channel: grpc.aio.Channel, event_id: str
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.RecordEvent(event(dispute_id, "note", event_id=event_id, reason="r"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "letters, digits, - or _" in violations(info.value)["event_id"]


async def test_two_events_at_the_same_moment_both_end_up_in_the_timeline(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    await asyncio.gather(
        intake.RecordEvent(event(dispute_id, "accepted")),
        intake.RecordEvent(event(dispute_id, "note", reason="已电话联系申请人")),
        intake.RecordEvent(event(dispute_id, "note", reason="已电话联系被申请人")),
    )
    record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    kinds = [e.kind for e in record.timeline]
    assert kinds.count("note") == 2 and kinds.count("accepted") == 1
    assert record.status == dispute_pb2.DISPUTE_STATUS_ACCEPTED


async def test_stats_by_street(intake_channel: grpc.aio.Channel) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    await routed_dispute(intake, "19")
    for kind in ("accepted", "mediation_started", "agreement_reached"):
        await intake.RecordEvent(event(dispute_id, kind))
    await intake.RecordEvent(event(dispute_id, "follow_up_done", satisfaction=4))
    street = sample("01").dispute.location.street
    stats = await intake.GetStats(intake_pb2.GetStatsRequest(street=street))
    assert (stats.received, stats.routed, stats.agreements, stats.closed) == (1, 1, 1, 1)
    assert stats.mediation_success_rate == 1.0 and stats.mean_satisfaction == 4.0
    assert (stats.settled_locally, stats.settled_locally_rate, stats.handled_rate) == (1, 1.0, 1.0)
    everywhere = await intake.GetStats(intake_pb2.GetStatsRequest())
    assert everywhere.received == 2 and everywhere.accepted == 1
    assert everywhere.handled_rate == 0.5


async def test_overdue_disputes_are_listed_and_counted_for_supervision(
    intake_channel: grpc.aio.Channel, bus: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    late_id = await routed_dispute(intake, "01")
    on_time_id = await routed_dispute(intake, "02")

    await make_overdue(bus, late_id, timedelta(days=1))
    overdue = intake_pb2.ListDisputesRequest(overdue=True)
    listed = await intake.ListDisputes(overdue)  # the read model has seen the write
    assert [d.dispute.id for d in listed.disputes] == [late_id]
    everything = await intake.ListDisputes(intake_pb2.ListDisputesRequest())
    assert {d.dispute.id for d in everything.disputes} == {late_id, on_time_id}
    community = sample("01").dispute.location.community
    elsewhere = await intake.ListDisputes(intake_pb2.ListDisputesRequest(community="别的社区"))
    here = await intake.ListDisputes(intake_pb2.ListDisputesRequest(community=community))
    assert (len(elsewhere.disputes), len(here.disputes)) == (0, 2)
    stats = await intake.GetStats(intake_pb2.GetStatsRequest())
    assert (stats.in_progress, stats.overdue) == (2, 1)


def _details(exc: grpc.aio.AioRpcError, kind: type[T]) -> list[T]:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    out = []
    for detail in status.details:
        message = kind()
        if detail.Unpack(message):
            out.append(message)
    return out


async def test_an_event_id_reused_for_another_event_is_already_exists(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    first = await intake.RecordEvent(event(dispute_id, "accepted", "ev-1"))
    again = await intake.RecordEvent(event(dispute_id, "accepted", "ev-1"))
    assert again.timeline == first.timeline, "a retry records nothing twice"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await intake.RecordEvent(event(dispute_id, "note", "ev-1", reason="另一件事"))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    (info,) = _details(refused.value, error_details_pb2.ResourceInfo)
    assert info.resource_name == f"disputes/{dispute_id}/events/ev-1"
    record = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
    assert [e.kind for e in record.timeline].count("note") == 0


async def test_refusals_carry_error_details(intake_channel: grpc.aio.Channel) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await intake.RecordEvent(event(dispute_id, "agreement_reached"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (failure,) = _details(refused.value, error_details_pb2.PreconditionFailure)
    (violation,) = failure.violations
    assert (violation.type, violation.subject) == ("STATUS", f"disputes/{dispute_id}")
    assert "调解中" in violation.description

    missing = "FQ-20260101-0000000000"
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=missing))
    assert absent.value.code() == grpc.StatusCode.NOT_FOUND
    (info,) = _details(absent.value, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("dispute", f"disputes/{missing}")


async def test_stats_of_a_period_that_ends_before_it_begins_is_invalid(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    later, earlier = Timestamp(seconds=1_790_000_000), Timestamp(seconds=1_780_000_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        request = intake_pb2.GetStatsRequest(to=earlier)
        getattr(request, "from").CopyFrom(later)  # `from` is a Python keyword
        await intake.GetStats(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {"from"}
