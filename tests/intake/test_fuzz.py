"""Whatever the city platform sends, intake answers OK or a client error that names the
fields — never UNKNOWN or INTERNAL — and what it accepts can be read back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengqiao.stack import Stack
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.intake.test_intake import violations

CLIENT_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS}
# Text as people and systems really send it: Chinese, blanks, controls, very long.
TEXT = st.one_of(
    st.sampled_from(["", " ", "甘州区", "第3网格", "13809361274", "a@b.cn", "\x00", "x" * 5000]),
    st.text(max_size=40),
)
CODES = st.one_of(
    st.sampled_from(["neighbour_noise", "labour_wages", "hotline", "violence", "applicant"]),
    TEXT,
)
ids = itertools.count()


@st.composite
def submissions(draw: st.DrawFn) -> intake_pb2.SubmitDisputeRequest:
    request = sample(draw(st.sampled_from(["01", "07", "13", "18"])))
    d = request.dispute
    for field in draw(st.sets(st.sampled_from(["category", "summary", "channel", "id"]))):
        setattr(d, field, draw(CODES))
    if draw(st.booleans()):
        d.amount_fen = draw(st.integers(-(2**63), 2**63 - 1))
    if draw(st.booleans()):
        d.risk_flags[:] = draw(st.lists(CODES, max_size=4))
    if draw(st.booleans()):
        for part in ("district", "street", "community", "grid", "address"):
            setattr(d.location, part, draw(TEXT))
    if draw(st.booleans()):
        del d.parties[:]
        for _ in range(draw(st.integers(0, 3))):
            d.parties.add(name=draw(TEXT), role=draw(CODES), phone=draw(TEXT),
                          id_number=draw(TEXT), email=draw(TEXT))  # fmt: skip
    if draw(st.booleans()):
        d.occurred_at.CopyFrom(Timestamp(seconds=draw(st.integers(-(2**40), 2**40))))
    request.request_id = draw(st.one_of(st.just(f"fuzz-{next(ids)}"), TEXT))
    return request


@pytest.fixture
async def intake(stack: Stack) -> AsyncIterator[intake_pb2_grpc.IntakeServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        yield intake_pb2_grpc.IntakeServiceStub(channel)


async def test_any_submission_is_accepted_or_refused_in_words(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> None:
    loop = asyncio.get_running_loop()
    outcomes: list[str] = []

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(submissions())
    def submit(request: intake_pb2.SubmitDisputeRequest) -> None:
        outcomes.append(asyncio.run_coroutine_threadsafe(check(request), loop).result(30))

    async def check(request: intake_pb2.SubmitDisputeRequest) -> str:
        try:
            response = await intake.SubmitDispute(request)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in CLIENT_ERRORS, (exc.code(), exc.details())
            assert exc.details()
            return exc.code().name
        stored = await intake.GetDispute(
            intake_pb2.GetDisputeRequest(dispute_id=response.dispute_id)
        )
        assert stored.dispute.category == request.dispute.category
        assert stored.status != dispute_pb2.DISPUTE_STATUS_UNSPECIFIED
        return "OK"

    await asyncio.to_thread(submit)
    assert {"OK", "INVALID_ARGUMENT"} <= set(outcomes)  # both sides were reached


async def test_a_long_list_of_long_problems_still_arrives_as_invalid_argument(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> None:
    """Found by the fuzzing above: echoing long bad values overflowed the 8 KiB metadata
    limit, and the caller saw RESOURCE_EXHAUSTED instead of what was wrong."""
    request = sample("01")
    request.dispute.category = "类" * 5000
    for _ in range(30):
        request.dispute.parties.add(name="x" * 3000, role="r" * 3000, phone="p" * 3000)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.SubmitDispute(request)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(info.value)
    assert "dispute.category" in found and found.get("…", "").endswith("more）")


async def test_a_time_out_of_range_is_named_not_a_crash(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> None:
    request = sample("01")
    request.dispute.occurred_at.CopyFrom(Timestamp(seconds=-(2**40)))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await intake.SubmitDispute(request)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "dispute.occurred_at" in violations(info.value)
