"""The journey of a dispute on the bus, in one table: every subscription (which service
reads which subjects of which stream, under which durable name, with which handler) and
what each service publishes and writes. A service binds its consumers from it (`bind`);
tests check it against the consumers the running services hold and against the users of
`deploy/nats/auth.conf`. Adding a hop is one row here.

The wire values (subjects, durable names) are the deployed ones: a durable renamed here
would be a new consumer that starts from the beginning of its stream."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from nats.js import JetStreamContext

from fengqiao.platform import timers
from fengqiao.platform.bus import (
    DLQ,
    EVENTS,
    KV_DELIVERIES,
    KV_DISPUTES,
    KV_NOTIFICATIONS,
    KV_POLICIES,
    KV_REPEATS,
    KV_REQUESTS,
    NOTIFY,
    NOTIFY_STREAM,
    ROUTED,
    SCHEDULE,
    STATUS,
    STREAM,
    SUBMITTED,
)
from fengqiao.platform.consume import Consumer

INTAKE: Final = "intake"
TRIAGE: Final = "triage"
NOTIFICATION: Final = "notification"
SERVICES: Final = (INTAKE, TRIAGE, NOTIFICATION)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One durable pull consumer: `service` reads `subject` of `stream` as `durable`, each
    message going to `handler`, written `Class.method` of the service's handler object."""

    service: str
    durable: str
    subject: str
    handler: str
    stream: str = STREAM


def _timer(timer: str) -> str:
    return timers.fired_subject(timer, ">")


# In the order a dispute meets them: submitted → routed → events → timers → delivery.
SUBSCRIPTIONS: Final = (
    Subscription(TRIAGE, "triage", f"{SUBMITTED}.*", "TriageWorker.handle_submitted"),
    Subscription(
        NOTIFICATION, "notification", f"{ROUTED}.*", "NotificationWorker.handle_assignment"
    ),
    Subscription(TRIAGE, "triage-events", f"{EVENTS}.*", "TriageWorker.handle_event"),
    Subscription(
        NOTIFICATION, "notification-events", f"{EVENTS}.*", "NotificationWorker.handle_event"
    ),
    Subscription(
        TRIAGE, "triage-timers-deadline", _timer(timers.DEADLINE), "TriageWorker.handle_timer"
    ),
    Subscription(
        TRIAGE, "triage-timers-response", _timer(timers.RESPONSE), "TriageWorker.handle_timer"
    ),
    Subscription(
        NOTIFICATION,
        "notification-deadline-near",
        _timer(timers.NEAR),
        "NotificationWorker.handle_deadline_near",
    ),
    Subscription(
        NOTIFICATION, "notification-acks", _timer(timers.ACK), "NotificationWorker.handle_ack_due"
    ),
    Subscription(
        NOTIFICATION,
        "notification-followup",
        _timer(timers.FOLLOWUP),
        "NotificationWorker.handle_follow_up",
    ),
    Subscription(
        NOTIFICATION, "notification-delivery", f"{NOTIFY}.>", "DeliveryWorker.handle", NOTIFY_STREAM
    ),
)

# The stream subjects each service publishes on (schedules fire as `disputes.timer.…`,
# published by the server itself).
PUBLISHES: Final = MappingProxyType(
    {
        INTAKE: (f"{SUBMITTED}.>", f"{EVENTS}.>"),
        TRIAGE: (f"{ROUTED}.>", f"{SCHEDULE}.>"),
        NOTIFICATION: (f"{NOTIFY}.>", f"{DLQ}.>", STATUS, f"{SCHEDULE}.>"),
    }
)
# The KV buckets each service writes.
WRITES: Final = MappingProxyType(
    {
        INTAKE: (KV_DISPUTES, KV_REQUESTS),
        TRIAGE: (KV_DISPUTES, KV_REPEATS, KV_POLICIES),
        NOTIFICATION: (KV_DISPUTES, KV_NOTIFICATIONS, KV_DELIVERIES),
    }
)


def subscriptions(service: str) -> tuple[Subscription, ...]:
    """The rows of `service`, in table order."""
    return tuple(s for s in SUBSCRIPTIONS if s.service == service)


async def bind(js: JetStreamContext, service: str, *handlers: object) -> list[Consumer]:
    """Start every consumer the table gives `service`, each handing its messages to the
    method its row names on the one of `handlers` of that class. If one cannot start,
    those started before it are stopped."""
    by_class = {type(h).__name__: h for h in handlers}
    async with contextlib.AsyncExitStack() as started:
        consumers = []
        for sub in subscriptions(service):
            owner, method = sub.handler.split(".")
            if owner not in by_class or not hasattr(by_class[owner], method):
                raise LookupError(f"{service} has no handler {sub.handler} for {sub.durable}")
            handler = getattr(by_class[owner], method)
            consumer = await Consumer.start(js, sub.durable, sub.subject, handler, sub.stream)
            started.push_async_callback(consumer.stop)
            consumers.append(consumer)
        started.pop_all()
        return consumers
