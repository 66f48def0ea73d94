"""How a handler's outcome settles a bus message: success acks once; a failure comes back
after a growing delay; a message that can never be handled is terminated, not retried."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from structlog.testing import capture_logs

from fengqiao.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FengqiaoError,
    RejectMessage,
    Retry,
    Unreadable,
    WriteConflicts,
)
from fengqiao.platform.bus import STREAM, Bus
from fengqiao.platform.consume import Consumer, consume
from tests.support import eventually

SUBJECT = "disputes.consume-test.FQ-1"


class Recorder:
    """A handler that fails as told, remembering each delivery and when it came."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.deliveries: list[tuple[int, float]] = []

    async def __call__(self, msg: Msg) -> None:
        self.deliveries.append((msg.metadata.num_delivered, time.monotonic()))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


async def run(bus: Bus, handler: Recorder, durable: str, until: int) -> None:
    """Publish one message, consume until the handler has seen it `until` times, stop."""
    consumer = await Consumer.start(bus.js, durable, SUBJECT, handler)
    try:
        await bus.js.publish(SUBJECT, b"{}")

        async def seen() -> int:
            return len(handler.deliveries)

        await eventually(seen, lambda n: n >= until)
    finally:
        await consumer.stop()


async def settled(bus: Bus, durable: str) -> bool:
    info = await bus.js.consumer_info(STREAM, durable)
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)


async def test_a_failure_is_retried_after_a_delay_and_then_acked_once(bus: Bus) -> None:
    handler = Recorder(RuntimeError("KV briefly unavailable"), None)
    with capture_logs() as logs:
        await run(bus, handler, "consume-retry", until=2)
        await eventually(lambda: settled(bus, "consume-retry"), bool)
    (first, at_first), (second, at_second) = handler.deliveries
    assert (first, second) == (1, 2)
    assert at_second - at_first >= 0.9  # redelivery_delay(1) is one second
    (failed,) = [e for e in logs if e["event"] == "message_failed"]
    assert failed["subject"] == SUBJECT and failed["retry_in_seconds"] == 1.0


async def test_a_handler_may_choose_its_own_delay(bus: Bus) -> None:
    handler = Recorder(Retry(0.2), None)
    await run(bus, handler, "consume-own-delay", until=2)
    (_, at_first), (_, at_second) = handler.deliveries
    assert 0.15 <= at_second - at_first < 0.9  # its own 0.2 s, not the default 1 s


async def test_a_message_that_can_never_be_handled_is_terminated_not_retried(bus: Bus) -> None:
    handler = Recorder(RejectMessage("not a dispute event"))
    with capture_logs() as logs:
        await run(bus, handler, "consume-reject", until=1)
        await eventually(lambda: settled(bus, "consume-reject"), bool)
    # A redelivery would have come within a second; the consumer holds nothing more.
    info = await bus.js.consumer_info(STREAM, "consume-reject")
    assert info.num_redelivered == 0 and len(handler.deliveries) == 1
    (rejected,) = [e for e in logs if e["event"] == "message_rejected"]
    assert rejected["error"] == "not a dispute event"


@pytest.mark.parametrize(
    "error", [AlreadyExists("已存在"), FailedPrecondition("已办结"), Unreadable("not a Dispute")]
)
async def test_every_permanent_error_is_terminated(bus: Bus, error: FengqiaoError) -> None:
    """The error says its own fate (AlreadyExists and FailedPrecondition once went round
    the retry path: the consumer kept its own list of what is permanent)."""
    durable = f"consume-{type(error).__name__.lower()}"
    handler = Recorder(error)
    await run(bus, handler, durable, until=1)
    await eventually(lambda: settled(bus, durable), bool)
    info = await bus.js.consumer_info(STREAM, durable)
    assert info.num_redelivered == 0 and len(handler.deliveries) == 1


async def test_a_transient_error_of_ours_is_retried(bus: Bus) -> None:
    handler = Recorder(WriteConflicts("FQ-1: 50 write conflicts in a row"), None)
    await run(bus, handler, "consume-conflicts", until=2)
    assert [n for n, _ in handler.deliveries] == [1, 2]


async def _pull(bus: Bus, durable: str, ack_wait: float) -> JetStreamContext.PullSubscription:
    return await bus.js.pull_subscribe(
        "disputes.consume-test.>",
        durable=durable,
        stream=STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait, max_deliver=5),
    )


async def test_a_batch_is_handled_side_by_side_one_subject_in_order(bus: Bus) -> None:
    """Two disputes' messages run at once (each waits for the other to start); one
    dispute's messages run one after the other, in the order they were published."""
    started = {"FQ-1": asyncio.Event(), "FQ-2": asyncio.Event()}
    order: list[bytes] = []

    async def handler(msg: Msg) -> None:
        dispute = msg.subject.rsplit(".", 1)[1]
        order.append(msg.data)
        started[dispute].set()
        other = "FQ-2" if dispute == "FQ-1" else "FQ-1"
        async with asyncio.timeout(5):  # handled one at a time, this would never end
            await started[other].wait()

    for data, dispute in ((b"1a", "FQ-1"), (b"2a", "FQ-2"), (b"1b", "FQ-1"), (b"1c", "FQ-1")):
        await bus.js.publish(f"disputes.consume-test.{dispute}", data)
    stop = asyncio.Event()
    task = asyncio.create_task(consume(await _pull(bus, "consume-side", 30), handler, stop))
    try:
        await eventually(lambda: _value(len(order)), lambda n: n == 4)
    finally:
        stop.set()
        await task
    assert [d for d in order if d.startswith(b"1")] == [b"1a", b"1b", b"1c"]
    assert await settled(bus, "consume-side")


async def test_a_message_queued_behind_its_subject_is_not_redelivered_meanwhile(
    bus: Bus,
) -> None:
    """One subject's messages wait for each other longer than the ack wait: each is still
    delivered once, even with a second replica asking for work, since its wait starts
    again when its turn comes."""
    deliveries: list[int] = []

    async def slow(msg: Msg) -> None:
        deliveries.append(msg.metadata.num_delivered)
        await asyncio.sleep(1.2)  # a slow receiver, the behaviour under test

    for n in range(3):
        await bus.js.publish(SUBJECT, str(n).encode())
    stop = asyncio.Event()
    first = asyncio.create_task(
        consume(await _pull(bus, "consume-queued", 2.0), slow, stop, ack_wait=2.0)
    )
    await eventually(lambda: _value(len(deliveries)), lambda n: n == 1)
    # A replica: it would be handed whatever the first lets time out.
    second = asyncio.create_task(
        consume(await _pull(bus, "consume-queued", 2.0), slow, stop, ack_wait=2.0)
    )
    try:
        await eventually(lambda: settled(bus, "consume-queued"), bool)
    finally:
        stop.set()
        await asyncio.gather(first, second)
    assert deliveries == [1, 1, 1]


async def _value(n: int) -> int:
    return n
