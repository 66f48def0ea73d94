"""Deadlines as JetStream scheduled messages (ADR-51): they live in the stream, so they
survive restarts of every service and of the server. One schedule subject per dispute,
kind and step; a timer of an older step is stale when it fires and is ignored."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import structlog
from nats.js import JetStreamContext
from nats.js.api import Header

from fengqiao.convert import encode
from fengqiao.platform.bus import SCHEDULE, STREAM, TIMER
from fengqiao.v1 import events_pb2

log = structlog.get_logger()

DEADLINE: Final = "deadline"
RESPONSE: Final = "response"
FOLLOWUP: Final = "followup"
# The fact a timer delivers when it fires.
KIND_OF_TIMER: Final = {
    DEADLINE: "deadline_expired",
    RESPONSE: "response_expired",
    FOLLOWUP: "follow_up_due",
}


def timer_event_id(timer: str, dispute_id: str, step: int) -> str:
    return f"{KIND_OF_TIMER[timer]}-{dispute_id}-{step}"


async def schedule(
    js: JetStreamContext, timer: str, dispute_id: str, step: int, at: datetime
) -> None:
    """Fire `disputes.timer.<timer>.<id>.<step>` at `at` (rounded up to the second)."""
    when = datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)
    event = events_pb2.DisputeEvent(
        event_id=timer_event_id(timer, dispute_id, step),
        dispute_id=dispute_id,
        kind=KIND_OF_TIMER[timer],
        step=step,
    )
    await js.publish(
        f"{SCHEDULE}.{timer}.{dispute_id}.{step}",
        encode(event),
        headers={
            Header.SCHEDULE: f"@at {when:%Y-%m-%dT%H:%M:%SZ}",
            Header.SCHEDULE_TARGET: f"{TIMER}.{timer}.{dispute_id}.{step}",
            "Nats-Msg-Id": f"schedule-{event.event_id}",
        },
    )
    log.info("timer_scheduled", timer=timer, step=step, at=when.isoformat())


async def cancel(
    js: JetStreamContext, timer: str, dispute_id: str, step: int | None = None
) -> None:
    """Cancel pending timers of `dispute_id` (of one step, or all): purge their schedules."""
    subject = f"{SCHEDULE}.{timer}.{dispute_id}." + ("*" if step is None else str(step))
    await js.purge_stream(STREAM, subject=subject)
