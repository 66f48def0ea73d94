"""The pull-consumer loop every worker uses, and how a handler's outcome becomes
`ack`, `nak(delay)` or `term`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from fengqiao.domain.errors import FengqiaoError, Retry
from fengqiao.platform import tracing
from fengqiao.platform.bus import (
    ACK_WAIT_SECONDS,
    STREAM,
    STREAM_ROOT,
    TIMER,
    pull_consumer,
    redelivery_delay,
)

log = structlog.get_logger()

Handler = Callable[[Msg], Awaitable[None]]
FETCH_WAIT_SECONDS = 5.0
# Messages fetched at once, and so handled at once: well within the ack wait however slow
# one of them is, since each settles on its own.
FETCH_BATCH = 64


async def consume(
    sub: JetStreamContext.PullSubscription,
    handler: Handler,
    stop: asyncio.Event,
    batch: int = FETCH_BATCH,
    ack_wait: float = ACK_WAIT_SECONDS,
) -> None:
    """Fetch and handle messages until `stop` is set. Success acks; a permanent failure
    terminates the message; anything else is redelivered after a growing delay. The
    messages of one fetch are handled concurrently, those on one subject one after the
    other; the record's compare-and-set keeps concurrent writers of one dispute apart.

    A message waiting behind its subject's others is told to the server as in progress
    every third of `ack_wait` (the consumer's), so no replica is handed it meanwhile.

    Stopping never interrupts a handler; a fetch still waiting is abandoned, and anything
    it would have brought is redelivered after the consumer's ack wait."""
    stopped = asyncio.create_task(stop.wait())
    failures = 0
    try:
        while not stop.is_set():
            fetch = asyncio.create_task(sub.fetch(batch, timeout=FETCH_WAIT_SECONDS))
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()
                break
            try:
                msgs = fetch.result()
            except TimeoutError:  # nats-py raises both its own and asyncio's: nothing came
                failures = 0
                continue
            except Exception as exc:  # the loop must outlive a reconnecting server
                failures += 1
                delay = redelivery_delay(failures)
                log.warning("fetch_failed", error=repr(exc), retry_in_seconds=delay)
                await asyncio.wait({stopped}, timeout=delay)
                continue
            failures = 0
            await asyncio.gather(
                *(_handle_in_order(same, handler, ack_wait / 3) for same in _by_subject(msgs))
            )
    finally:
        stopped.cancel()


def _by_subject(msgs: list[Msg]) -> list[list[Msg]]:
    """The batch split by subject, each in the order fetched. A subject names one dispute
    (or one recipient, or one step's timer), so facts about it keep their order while
    different disputes are handled side by side."""
    groups: dict[str, list[Msg]] = {}
    for msg in msgs:
        groups.setdefault(msg.subject, []).append(msg)
    return list(groups.values())


async def _handle_in_order(msgs: list[Msg], handler: Handler, keep_alive: float) -> None:
    if len(msgs) == 1:
        await _handle(msgs[0], handler)
        return
    waiting = list(msgs)
    alive = asyncio.create_task(_keep_in_progress(waiting, keep_alive))
    try:
        while waiting:
            await _handle(waiting[0], handler)
            waiting.pop(0)
    finally:
        alive.cancel()


async def _keep_in_progress(waiting: list[Msg], every: float) -> None:
    """Until cancelled: restart the ack wait of each message not yet settled (a recipient's
    slow webhook can hold its later messages longer than the ack wait)."""
    while True:
        await asyncio.sleep(every)
        for msg in list(waiting):
            with contextlib.suppress(Exception):  # best effort: at worst, redelivered
                await msg.in_progress()


async def _handle(msg: Msg, handler: Handler) -> None:
    try:
        await _settle(msg, handler)
    except Exception as exc:  # ack/nak/term failed: the server redelivers after ack_wait
        log.warning("message_not_settled", subject=msg.subject, error=repr(exc))


async def _settle(msg: Msg, handler: Handler) -> None:
    with tracing.continued(msg.headers, _span_name(msg.subject)):
        await _settle_traced(msg, handler)


def _span_name(subject: str) -> str:
    """`disputes.submitted`, `disputes.timer.deadline`, `notify`: what kind of message,
    without the ids (span names are few)."""
    tokens = subject.split(".")
    if tokens[0] != STREAM_ROOT or len(tokens) < 2:
        return tokens[0]
    return ".".join(tokens[:3] if ".".join(tokens[:2]) == TIMER else tokens[:2])


async def _settle_traced(msg: Msg, handler: Handler) -> None:
    delivered = msg.metadata.num_delivered
    try:
        await handler(msg)
    except Retry as retry:
        await msg.nak(delay=retry.delay)
    except FengqiaoError as exc:
        if exc.permanent:  # redelivered, it fails the same way: stop delivering it
            log.error("message_rejected", subject=msg.subject, error=str(exc),
                      delivered=delivered)  # fmt: skip
            await msg.term()
        else:
            await _again(msg, delivered, exc)
    except Exception as exc:  # not ours to judge (a library's, a bug): worth another try
        await _again(msg, delivered, exc)
    else:
        await msg.ack()


async def _again(msg: Msg, delivered: int, exc: Exception) -> None:
    delay = redelivery_delay(delivered)
    log.warning(
        "message_failed",
        subject=msg.subject,
        error=repr(exc),
        delivered=delivered,
        retry_in_seconds=delay,
    )
    await msg.nak(delay=delay)


@dataclass
class Consumer:
    """A durable pull consumer being worked by `consume` in a task of its own."""

    _stop: asyncio.Event
    _task: asyncio.Task[None]

    @classmethod
    async def start(
        cls,
        js: JetStreamContext,
        durable: str,
        subject: str,
        handler: Handler,
        stream: str = STREAM,
    ) -> Consumer:
        sub = await pull_consumer(js, durable, subject, stream)
        stop = asyncio.Event()
        return cls(stop, asyncio.create_task(consume(sub, handler, stop)))

    async def stop(self) -> None:
        """Finish the message in hand, then stop fetching."""
        self._stop.set()
        await self._task
