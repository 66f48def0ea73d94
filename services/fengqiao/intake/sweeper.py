"""The sweeper: a dispute stored without its `submitted` fact is announced by intake itself.

SubmitDispute stores the record, then publishes `disputes.submitted.<id>`. Between the two
NATS can fail (the caller hears UNAVAILABLE, and may never retry) or intake can die; the
record then stays RECEIVED and triage never hears of it. Two ways to close that gap:

- an outbox: mark in the record what is still to be published and clear the mark once
  it is. That is a second write to nats-server on every submission, to guard against a
  rare failure, on the path the throughput work trimmed to three requests;
- a sweeper (chosen): the record already says what is missing. A dispute still RECEIVED
  some time after it came in was never routed, and the read model finds those with one
  range of its index `disputes_status` (status, received time, id). Nothing is added to
  the submit path.

Every `interval` seconds (and at start) the sweeper takes the disputes still RECEIVED that
came in more than `interval` seconds ago and not yet looked at by this process (at start:
all of them), oldest first. For each it asks the DISPUTES stream for the last message on
`disputes.submitted.<id>` (one request): a message there will reach triage, whose durable
consumer keeps it, so nothing is done. Only when there is none, and the bucket still
holds the record RECEIVED, is the fact published again: `dispute_republished`. A dispute
is looked at once per process; one whose check failed (NATS away again) is looked at in
the next sweep.

Publishing twice is harmless, so replicas need not agree on who sweeps: the fact is the
same bytes with the same Nats-Msg-Id (`submitted-<id>`), dropped by the server within the
stream's duplicate window, and after it triage routes only a record that is still
RECEIVED, by compare-and-set on its revision; a second message re-announces the
assignment (deduplicated by id in turn) and decides nothing again.

What is not swept: a recorded event (`RecordEvent`) whose message was not published. The
caller is answered UNAVAILABLE and its retry with the same event_id publishes it; a caller
that gives up leaves the event in the timeline without its consequence (an escalation),
though the step's deadline still escalates. See README, Known limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from nats.js.errors import NotFoundError

from fengqiao.domain.epoch import micros
from fengqiao.domain.errors import FengqiaoError
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import Status
from fengqiao.intake.submission import submitted_event
from fengqiao.platform import tracing
from fengqiao.platform.bus import BUS_UNAVAILABLE, STREAM, Bus, fact_subject, publish_event
from fengqiao.platform.logs import bound
from fengqiao.platform.store import DisputeStore
from fengqiao.readmodel import ReadModel

log = structlog.get_logger()

PAGE: Final = 256
# A sweep that meets these stops and the next one carries on where it stopped.
_RETRIED: Final[tuple[type[Exception], ...]] = (FengqiaoError, *BUS_UNAVAILABLE)


class Sweeper:
    def __init__(self, bus: Bus, reads: ReadModel, interval: float) -> None:
        self._js = bus.js
        self._store = DisputeStore(bus)
        self._reads = reads
        self._interval = interval
        # Every dispute up to here (received time, id) has been looked at.
        self._done: tuple[int, str] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep now and every `interval` seconds, until `stop` is set. (Not only until
        cancelled: a cancellation that met a read's own timeout in the same moment was
        once lost, and the sweeper slept out its interval with the service stopping.)"""
        while not stop.is_set():
            try:
                await self.sweep()
            except _RETRIED as exc:  # the next sweep tries again
                log.warning("sweep_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def sweep(self) -> int:
        """Look at the disputes received `interval` seconds ago or earlier and not looked
        at yet; return how many were published again."""
        until = micros(datetime.now(UTC) - timedelta(seconds=self._interval))
        looked_at = republished = 0
        while True:
            page = await self._reads.received_waiting(self._done, until, PAGE)
            for received_us, dispute_id in page:
                # The caller's trace was lost with its call: a new one from here on.
                with bound(dispute_id=dispute_id), tracing.continued(None, "intake.sweep"):
                    republished += await self._announce_if_stranded(dispute_id)
                self._done = (received_us, dispute_id)
            looked_at += len(page)
            if len(page) < PAGE:
                log.debug(
                    "sweep_finished", until_us=until, looked_at=looked_at, republished=republished
                )
                return republished

    async def _announce_if_stranded(self, dispute_id: str) -> int:
        try:
            await self._js.get_last_msg(STREAM, fact_subject(EventKind.SUBMITTED, dispute_id))
        except NotFoundError:
            pass
        else:
            return 0  # published: triage's consumer has it
        record = await self._store.get(dispute_id)
        if record is None or record.status is not Status.RECEIVED:
            return 0
        await publish_event(self._js, submitted_event(record))
        received = record.dispute.received_at
        waited = (datetime.now(UTC) - received).total_seconds() if received else 0.0
        log.info("dispute_republished", waited_seconds=round(waited, 1))
        return 1
