"""Notification consumer: one notification per (dispute, event, recipient), however often
the decision is redelivered; the dispute's timeline records who was told."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg
from nats.js.errors import KeyWrongLastSequenceError

from fengqiao.convert import (
    decision_from_proto,
    decode,
    dispute_from_proto,
    encode,
    notification_to_proto,
)
from fengqiao.domain.model import Decision, Dispute, DisputeRecord, Notification, TimelineEntry
from fengqiao.notification.recipients import Recipient, recipients, routed_message
from fengqiao.platform.bus import Bus
from fengqiao.platform.consume import RejectMessage
from fengqiao.platform.store import Change, DisputeStore
from fengqiao.v1 import events_pb2

log = structlog.get_logger()


def notification_key(dispute_id: str, event_id: str, recipient_id: str) -> str:
    """KV key: `<dispute>.<event>.<recipient hash>`, so one dispute's are one prefix."""
    digest = hashlib.sha256(recipient_id.encode("utf-8")).hexdigest()[:20]
    return f"{dispute_id}.{event_id}.{digest}"


class NotificationWorker:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._store = DisputeStore(bus.disputes)

    async def handle(self, msg: Msg) -> None:
        event = decode(msg.data, events_pb2.DisputeEvent())
        if event.kind != "routed" or not event.HasField("decision"):
            raise RejectMessage(f"notification cannot handle a {event.kind!r} event")
        try:
            decision = decision_from_proto(event.decision)
        except ValueError as exc:
            raise RejectMessage(str(exc)) from exc
        dispute = dispute_from_proto(event.dispute)
        with structlog.contextvars.bound_contextvars(dispute_id=event.dispute_id):
            told = [
                await self._notify(dispute, decision, event.event_id, r)
                for r in recipients(dispute, decision)
            ]
            await self._store.update(event.dispute_id, _record_told(event.event_id, told))

    async def _notify(
        self, dispute: Dispute, decision: Decision, event_id: str, recipient: Recipient
    ) -> Recipient:
        key = notification_key(dispute.id, event_id, recipient.id)
        notification = Notification(
            id=key,
            dispute_id=dispute.id,
            event="routed",
            recipient_id=recipient.id,
            recipient_role=recipient.role,
            recipient_label=recipient.label,
            channel=recipient.channel,
            message=routed_message(dispute, decision, recipient),
            created_at=datetime.now(UTC),
        )
        try:
            await self._bus.notifications.create(key, encode(notification_to_proto(notification)))
        except KeyWrongLastSequenceError:
            log.debug("notification_already_sent", recipient=recipient.id)
            return recipient
        log.info(
            "notification_sent",
            notification_id=key,
            recipient=recipient.id,
            role=recipient.role,
            channel=recipient.channel,
            attempt=1,
        )
        return recipient


def _record_told(event_id: str, told: list[Recipient]) -> Change:
    """Append one `notified` step per event to the timeline, once."""
    entry = TimelineEntry(
        at=datetime.now(UTC),
        kind="notified",
        summary="已通知：" + "、".join(r.label for r in told),
        event_id=f"notified-{event_id}",
    )

    def apply(current: DisputeRecord) -> DisputeRecord | None:
        if any(e.event_id == entry.event_id for e in current.timeline):
            return None
        return replace(current, timeline=(*current.timeline, entry))

    return apply
