"""Timers as JetStream scheduled messages (ADR-51): they live in the stream, so they
survive restarts of every service and of the server. A schedule on
`disputes.schedule.<timer>.<key>` delivers its fact on `disputes.timer.<timer>.<key>` at
the second it names; purging the schedule subject cancels it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import structlog
from nats.js import JetStreamContext
from nats.js.api import Header

from fengqiao.domain.kinds import EventKind
from fengqiao.platform import tracing
from fengqiao.platform.bus import SCHEDULE, STREAM, TIMER
from fengqiao.platform.codec import encode
from fengqiao.v1 import events_pb2

log = structlog.get_logger()

DEADLINE: Final = "deadline"
# The share of a step's time after which its handlers are told the deadline is near.
NEAR_SHARE: Final = 0.8
RESPONSE: Final = "response"
FOLLOWUP: Final = "followup"
NEAR: Final = "near"
ACK: Final = "ack"
# The fact a timer delivers when it fires.
KIND_OF_TIMER: Final = {
    DEADLINE: EventKind.DEADLINE_EXPIRED,
    RESPONSE: EventKind.RESPONSE_EXPIRED,
    FOLLOWUP: EventKind.FOLLOW_UP_DUE,
    NEAR: EventKind.DEADLINE_NEAR,
    ACK: EventKind.ACK_DUE,
}


def fired_subject(timer: str, key: str) -> str:
    """Where a timer of kind `timer` and key `key` (or a pattern of keys) fires."""
    return f"{TIMER}.{timer}.{key}"


def schedule_subject(timer: str, key: str) -> str:
    """Where the schedule of a timer waits until it fires (or a pattern of them)."""
    return f"{SCHEDULE}.{timer}.{key}"


def key_of(timer: str, subject: str) -> str:
    """The key of a timer of kind `timer` that fired on `subject`."""
    return subject.removeprefix(fired_subject(timer, ""))


def step_timer(timer: str, dispute_id: str, step: int) -> tuple[str, events_pb2.DisputeEvent]:
    """The key and fact of a dispute's timer for one step."""
    event = events_pb2.DisputeEvent(
        event_id=f"{KIND_OF_TIMER[timer]}-{dispute_id}-{step}",
        dispute_id=dispute_id,
        kind=KIND_OF_TIMER[timer],
        step=step,
    )
    return f"{dispute_id}.{step}", event


async def schedule(
    js: JetStreamContext, timer: str, key: str, event: events_pb2.DisputeEvent, at: datetime
) -> None:
    """Deliver `event` on `disputes.timer.<timer>.<key>` at `at` (rounded up to the second).
    Scheduling the same event again within the duplicate window is dropped."""
    when = datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)
    await js.publish(
        schedule_subject(timer, key),
        encode(event),
        headers=tracing.headers(
            {
                Header.SCHEDULE: f"@at {when:%Y-%m-%dT%H:%M:%SZ}",
                Header.SCHEDULE_TARGET: fired_subject(timer, key),
                "Nats-Msg-Id": f"schedule-{event.event_id}",
            }
        ),
    )
    log.info("timer_scheduled", timer=timer, key=key, at=when.isoformat())


async def cancel(js: JetStreamContext, timer: str, key: str) -> None:
    """Cancel pending timers whose key matches `key` (a NATS subject pattern)."""
    await js.purge_stream(STREAM, subject=schedule_subject(timer, key))
