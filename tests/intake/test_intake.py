"""IntakeService over real gRPC, against a real nats-server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fengqiao.domain.vocabulary import CATEGORIES, CHANNELS
from fengqiao.platform.bus import Bus, connect
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import sample

pytestmark = pytest.mark.asyncio


def violations(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None
    out: dict[str, str] = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        out |= {v.field: v.description for v in bad.field_violations}
    return out


async def test_same_request_id_twice_yields_one_dispute(
    intake_channel: grpc.aio.Channel, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    request = sample("01")
    first, second = await asyncio.gather(
        intake.SubmitDispute(request), intake.SubmitDispute(request)
    )
    assert first.dispute_id == second.dispute_id
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest())
    assert [d.dispute.id for d in listed.disputes] == [first.dispute_id]


async def test_reused_request_id_with_other_content_is_already_exists(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    request = sample("01")
    await intake.SubmitDispute(request)
    other = intake_pb2.SubmitDisputeRequest(
        request_id=request.request_id, dispute=sample("02").dispute
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.SubmitDispute(other)
    assert info.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "new request_id" in (info.value.details() or "")


async def test_missing_category_and_negative_amount_are_invalid_argument_naming_the_fields(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    request = sample("12")
    request.dispute.category = ""
    request.dispute.amount_fen = -100
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.SubmitDispute(request)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(info.value)
    assert set(found) == {"dispute.category", "dispute.amount_fen"}
    assert "amount_fen must be 0 or more" in found["dispute.amount_fen"]
    # Nothing was stored for the rejected request.
    listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest())
    assert list(listed.disputes) == []


async def test_an_unknown_code_is_refused_with_every_allowed_value(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    request = sample("12")
    request.dispute.category = "邻里纠纷" * 80  # long enough to push the list out before
    request.dispute.channel = "wechat"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.SubmitDispute(request)
    found = violations(info.value)
    assert all(code in found["dispute.category"] for code in CATEGORIES)
    assert all(code in found["dispute.channel"] for code in CHANNELS)


async def test_get_dispute_unknown_and_malformed_ids(intake_channel: grpc.aio.Channel) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id="FQ-20261121-0000000000"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id="第1号"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(info.value)) == {"dispute_id"}


async def test_list_filters_by_street_and_pages_without_repeats(
    intake_channel: grpc.aio.Channel,
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    ids = []
    for prefix in ("01", "02", "03", "07", "19"):
        ids.append((await intake.SubmitDispute(sample(prefix))).dispute_id)
    street = sample("01").dispute.location.street
    same_street = {
        i
        for i, p in zip(ids, ("01", "02", "03", "07", "19"), strict=True)
        if sample(p).dispute.location.street == street
    }
    listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest(street=street))
    assert {d.dispute.id for d in listed.disputes} == same_street

    seen: list[str] = []
    token = ""
    while True:
        page = await intake.ListDisputes(
            intake_pb2.ListDisputesRequest(page_size=2, page_token=token)
        )
        assert len(page.disputes) <= 2
        seen += [d.dispute.id for d in page.disputes]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.ListDisputes(intake_pb2.ListDisputesRequest(page_token="garbage"))
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_submission_is_stored_and_published_once(stack: Stack) -> None:
    bus: Bus = await connect(stack.settings.nats_url, "probe")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            request = sample("05")
            response = await intake.SubmitDispute(request)
            await intake.SubmitDispute(request)
        subjects = await bus.js.stream_info("DISPUTES", subjects_filter="disputes.submitted.>")
        assert subjects.state.subjects == {f"disputes.submitted.{response.dispute_id}": 1}
        entry = await bus.disputes.get(response.dispute_id)
        assert entry.value is not None and response.dispute_id.encode() in entry.value
    finally:
        await bus.close()
