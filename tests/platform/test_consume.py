"""How a handler's outcome settles a bus message: success acks once; a failure comes back
after a growing delay; a message that can never be handled is terminated, not retried."""

from __future__ import annotations

import time

from nats.aio.msg import Msg
from structlog.testing import capture_logs

from fengqiao.platform.bus import STREAM, Bus
from fengqiao.platform.consume import Consumer, RejectMessage, Retry
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
