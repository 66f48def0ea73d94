"""Every API answers random requests with a result or a client error that says what is
wrong — never UNKNOWN, INTERNAL or a dropped stream: RecordEvent, the listings and their
filters and page tokens, GetStats, Acknowledge, and the policy's dry run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengqiao.stack import Stack
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
    triage_pb2,
    triage_pb2_grpc,
)
from tests.conftest import sample
from tests.intake.test_record_event import routed_dispute

ANSWERS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}
TEXT = st.one_of(
    st.sampled_from(["", "note", "accepted", "mediation_failed", "follow_up_done", "网格员 王芳"]),
    st.text(max_size=30),
    st.just("长" * 3000),
)
NUMBER = st.integers(-(2**31), 2**31 - 1)
WHEN = st.builds(Timestamp, seconds=st.integers(-(2**40), 2**40))


def stubs(channel: dict[str, grpc.aio.Channel]) -> dict[str, Any]:
    return {
        "intake": intake_pb2_grpc.IntakeServiceStub(channel["intake"]),
        "triage": triage_pb2_grpc.TriageServiceStub(channel["triage"]),
        "notification": notification_pb2_grpc.NotificationServiceStub(channel["notification"]),
    }


Call = Callable[[dict[str, Any]], Awaitable[Any]]


@st.composite
def calls(draw: st.DrawFn, dispute_id: str) -> Call:
    """One random call to one of the APIs, its fields drawn freely."""
    which = draw(st.sampled_from([dispute_id, "FQ-20261122-0000000000", "", "x.y", "FQ-bad"]))

    def text() -> str:
        return draw(TEXT)

    def number() -> Any:  # also any enum's number, known or not
        return draw(NUMBER)

    match draw(st.sampled_from(["event", "list", "stats", "notices", "ack", "dry run"])):
        case "event":
            event = dispute_pb2.CaseEvent(
                kind=text(),
                actor=text(),
                reason=text(),
                satisfaction=number(),
                risk_flags=draw(st.lists(TEXT, max_size=3)),
            )
            request: Any = intake_pb2.RecordEventRequest(
                dispute_id=which, event=event, event_id=text()
            )
            return lambda s: s["intake"].RecordEvent(request)
        case "list":
            request = intake_pb2.ListDisputesRequest(
                status=number(),
                colour=number(),
                route=number(),
                street=text(),
                community=text(),
                overdue=draw(st.booleans()),
                page_size=number(),
                page_token=text(),
            )
            return lambda s: s["intake"].ListDisputes(request)
        case "stats":
            request = intake_pb2.GetStatsRequest(street=text(), community=text())
            getattr(request, "from").CopyFrom(draw(WHEN))
            request.to.CopyFrom(draw(WHEN))
            return lambda s: s["intake"].GetStats(request)
        case "notices":
            request = notification_pb2.ListNotificationsRequest(
                recipient_id=text(), dispute_id=which, page_size=number(), page_token=text()
            )
            return lambda s: s["notification"].ListNotifications(request)
        case "ack":
            odd_keys = ["a b.c.d", "甲.乙.丙", "..", "a.>.c", f"{dispute_id}.x.{'0' * 20}"]
            key = draw(st.one_of(TEXT, st.sampled_from(odd_keys)))
            request = notification_pb2.AcknowledgeRequest(notification_id=key, who=text())
            return lambda s: s["notification"].Acknowledge(request)
        case _:
            context = triage_pb2.PolicyContext(current_level=number(), times_escalated=number())
            request = triage_pb2.EvaluateRequest(
                dispute=sample("13").dispute, event=text(), context=context
            )
            return lambda s: s["triage"].Evaluate(request)


async def test_every_api_answers_random_requests_in_words(stack: Stack) -> None:
    names = ("intake", "triage", "notification")
    channels = {n: grpc.aio.insecure_channel(f"127.0.0.1:{stack.port(n)}") for n in names}
    try:
        s = stubs(channels)
        dispute_id = await routed_dispute(s["intake"])
        loop = asyncio.get_running_loop()
        seen: set[grpc.StatusCode] = set()

        async def answer(call: Call) -> grpc.StatusCode:
            try:
                await call(s)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in ANSWERS, (exc.code(), exc.details())
                assert exc.details()
                return exc.code()
            return grpc.StatusCode.OK

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(calls(dispute_id))
        def check(call: Call) -> None:
            seen.add(asyncio.run_coroutine_threadsafe(answer(call), loop).result(30))

        await asyncio.to_thread(check)
        assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT} <= seen
    finally:
        for channel in channels.values():
            await channel.close()
