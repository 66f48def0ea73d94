"""Notification consumers: one notification per (dispute, event, recipient), however
often a message is redelivered; the dispute's timeline records who was told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from fengqiao.domain.errors import RejectMessage
from fengqiao.domain.kinds import DECIDED, EventKind
from fengqiao.domain.model import (
    Dispute,
    Notification,
    Route,
    Status,
    TimelineEntry,
)
from fengqiao.notification import acks
from fengqiao.notification.acks import AckStage
from fengqiao.notification.messages import (
    agreement_message,
    assignment_message,
    deadline_near_message,
    follow_up_message,
)
from fengqiao.notification.recipients import (
    Recipient,
    parties,
    recipient_digest,
    recipients,
    recipients_for_roles,
)
from fengqiao.platform import redact, timers, tracing
from fengqiao.platform.bus import Bus, recipient_subject
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.convert import (
    decision_from_proto,
    dispute_from_proto,
    from_timestamp,
    notification_from_proto,
    notification_to_proto,
    route_from_proto,
    timestamp,
)
from fengqiao.platform.logs import bound
from fengqiao.platform.store import DisputeStore
from fengqiao.v1 import events_pb2, notification_pb2

log = structlog.get_logger()

# Agreements at these rungs are people's mediation, which judicial confirmation is for.
_CONFIRMABLE = (Route.LOCAL, Route.STREET_OFFICE)
_FOLLOW_UP_BY = ("grid_worker", "community_mediation_room")


def notification_key(dispute_id: str, event_id: str, recipient_id: str) -> str:
    """KV key: `<dispute>.<event>.<recipient hash>` (neither id has a dot), so one
    dispute's are one prefix and one recipient's match `*.*.<hash>` on the server."""
    return f"{dispute_id}.{event_id}.{recipient_digest(recipient_id)}"


class NotificationWorker:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._store = DisputeStore(bus)

    async def handle_assignment(self, msg: Msg) -> None:
        """A dispute routed or escalated: tell the policy's recipients."""
        event = decode(msg.data, events_pb2.DisputeEvent())
        if event.kind not in DECIDED or not event.HasField("decision"):
            raise RejectMessage(f"notification cannot handle a {event.kind!r} event")
        try:
            decision = decision_from_proto(event.decision)
        except ValueError as exc:
            raise RejectMessage(str(exc)) from exc
        dispute = dispute_from_proto(event.dispute)
        escalated_from = (
            route_from_proto(event.from_route) if event.kind == EventKind.ESCALATED else None
        )
        messages = [
            (r, assignment_message(dispute, decision, r, escalated_from))
            for r in recipients(dispute, decision)
        ]
        respond_by = from_timestamp(event, "respond_by")
        # The record as triage wrote it: who was told is appended without reading it back.
        known = (event.record, event.record_revision) if event.record_revision else None
        await self._deliver(
            dispute, event.event_id, event.kind, messages, respond_by=respond_by, known=known
        )

    async def handle_event(self, msg: Msg) -> None:
        """A recorded event: after a mediation agreement, tell the parties of judicial
        confirmation."""
        event = decode(msg.data, events_pb2.DisputeEvent())
        if event.kind != EventKind.AGREEMENT_REACHED:
            return
        with bound(dispute_id=event.dispute_id):
            record = await self._store.require(event.dispute_id)
            if record.level not in _CONFIRMABLE:
                return
            messages = [(r, agreement_message(record.dispute, r)) for r in parties(record.dispute)]
            await self._deliver(record.dispute, event.event_id, event.kind, messages)

    async def handle_follow_up(self, msg: Msg) -> None:
        """The follow-up visit is due: tell the grid worker and the mediation room."""
        event = decode(msg.data, events_pb2.DisputeEvent())
        if event.kind != EventKind.FOLLOW_UP_DUE:
            raise RejectMessage(f"not a follow-up timer: {event.kind!r}")
        with bound(dispute_id=event.dispute_id):
            record = await self._store.require(event.dispute_id)
            if record.status not in (Status.AGREED, Status.RESOLVED) or record.satisfaction:
                log.info("follow_up_not_needed", status=record.status.value)
                return
            text = follow_up_message(record.dispute, record.closed_at)
            messages = [(r, text) for r in recipients_for_roles(record.dispute, _FOLLOW_UP_BY)]
            await self._deliver(record.dispute, event.event_id, event.kind, messages)

    async def handle_deadline_near(self, msg: Msg) -> None:
        """The step's deadline is near: tell its people (not the parties) once."""
        event = decode(msg.data, events_pb2.DisputeEvent())
        with bound(dispute_id=event.dispute_id):
            record = await self._store.require(event.dispute_id)
            decision = record.decision
            if decision is None or record.status.closed or record.step != event.step:
                log.info("deadline_near_not_needed", step=event.step, current_step=record.step)
                return
            text = deadline_near_message(record.dispute, decision)
            roles = tuple(r for r in decision.notify if r != "party")
            messages = [(r, text) for r in recipients_for_roles(record.dispute, roles)]
            await self._deliver(record.dispute, event.event_id, event.kind, messages)

    async def handle_ack_due(self, msg: Msg) -> None:
        """An assignment's notifications not yet acknowledged: remind their recipients,
        then, if still unacknowledged after as long again, tell each one's level up."""
        event = decode(msg.data, events_pb2.DisputeEvent())
        key = timers.key_of(timers.ACK, msg.subject)
        # Earlier versions scheduled one timer per notification, keyed by its id.
        ids = list(event.notification_ids) or [key]
        with bound(dispute_id=event.dispute_id):
            originals = await self._notifications(ids)
            record = await self._store.require(event.dispute_id)
            waiting = [n for n in originals if n.acknowledged_at is None]
            if not waiting or record.status.closed:
                log.info("ack_not_needed", timer=key, step=event.step)
                return
            _, event_id, _ = acks.parts_of(waiting[0].id)
            if event.step == AckStage.REMIND:
                await self._remind(record.dispute, waiting, key, event_id)
            else:
                await self._tell_supervisors(record.dispute, waiting, event_id)

    async def _remind(
        self, dispute: Dispute, waiting: list[Notification], key: str, event_id: str
    ) -> None:
        messages = [
            (
                Recipient(n.recipient_id, n.recipient_role, n.recipient_label, n.channel),
                acks.reminder_message(dispute, n),
            )
            for n in waiting
        ]
        await self._deliver(dispute, f"{acks.REMINDER}-{event_id}", acks.REMINDER, messages)
        # Wait as long again as the first time before telling the level up.
        now = datetime.now(UTC)
        told = min(n.created_at for n in waiting)
        wait = now - told if now > told else acks.DEFAULT_WAIT
        escalate = events_pb2.DisputeEvent(
            event_id=f"{EventKind.ACK_DUE}-{AckStage.ESCALATE:d}-{key}",
            dispute_id=dispute.id,
            kind=EventKind.ACK_DUE,
            step=AckStage.ESCALATE,
            notification_ids=[n.id for n in waiting],
        )
        await timers.schedule(self._bus.js, timers.ACK, key, escalate, now + wait)

    async def _tell_supervisors(
        self, dispute: Dispute, waiting: list[Notification], event_id: str
    ) -> None:
        by_role: dict[str, list[Notification]] = {}
        for n in waiting:
            role = acks.SUPERVISOR.get(n.recipient_role, "street_leader")
            by_role.setdefault(role, []).append(n)
        messages: dict[str, tuple[Recipient, str]] = {}
        for role, unconfirmed in by_role.items():
            text = acks.supervisor_message(dispute, unconfirmed)
            for r in recipients_for_roles(dispute, (role,)):
                messages.setdefault(r.id, (r, text))
        await self._deliver(
            dispute, f"{acks.OVERDUE}-{event_id}", acks.OVERDUE, list(messages.values())
        )

    async def _notifications(self, keys: list[str]) -> list[Notification]:
        """The stored notifications of `keys` that still exist (retention may delete one)."""
        entries = await asyncio.gather(
            *(self._bus.notifications.get(k) for k in keys), return_exceptions=True
        )
        found = []
        for key, entry in zip(keys, entries, strict=True):
            if isinstance(entry, KeyNotFoundError):
                log.info("notification_gone", notification_id=key)
                continue
            if isinstance(entry, BaseException):
                raise entry
            found.append(
                notification_from_proto(
                    decode(entry.value or b"{}", notification_pb2.Notification())
                )
            )
        if not found:
            raise RejectMessage(f"no notification {', '.join(keys)}")
        return found

    async def _deliver(
        self,
        dispute: Dispute,
        event_id: str,
        kind: str,
        messages: list[tuple[Recipient, str]],
        *,
        respond_by: datetime | None = None,
        known: tuple[bytes, int] | None = None,
    ) -> None:
        with bound(dispute_id=dispute.id), redact.about(dispute):
            sent = await asyncio.gather(
                *(
                    self._send(dispute.id, event_id, kind, recipient, text, respond_by=respond_by)
                    for recipient, text in messages
                )
            )
            # One timer for the assignment, not one per recipient: when it fires, it
            # reminds those who have not acknowledged (written after the notifications,
            # so they exist when it fires; a redelivery schedules it again, and the
            # stream drops the repeat by id).
            waiting = [key for key, needs_ack in sent if needs_ack]
            if waiting and respond_by is not None:
                await self._schedule_ack(dispute.id, event_id, waiting, respond_by)
            told = [r for r, _ in messages]
            notified = TimelineEntry(
                at=datetime.now(UTC),
                kind=EventKind.NOTIFIED,
                summary="已通知：" + "、".join(r.label for r in told),
                event_id=f"{EventKind.NOTIFIED}-{event_id}",
            )
            await self._store.append_once(dispute.id, notified, known)

    async def _schedule_ack(
        self, dispute_id: str, event_id: str, keys: list[str], respond_by: datetime
    ) -> None:
        timer = f"{dispute_id}.{event_id}"
        reminder = events_pb2.DisputeEvent(
            event_id=f"{EventKind.ACK_DUE}-{AckStage.REMIND:d}-{timer}",
            dispute_id=dispute_id,
            kind=EventKind.ACK_DUE,
            step=AckStage.REMIND,
            respond_by=timestamp(respond_by),
            notification_ids=keys,
        )
        await timers.schedule(self._bus.js, timers.ACK, timer, reminder, respond_by)

    async def _send(
        self,
        dispute_id: str,
        event_id: str,
        kind: str,
        recipient: Recipient,
        text: str,
        *,
        respond_by: datetime | None,
    ) -> tuple[str, bool]:
        """Record and publish one notification; its key, and whether it awaits an
        acknowledgement."""
        key = notification_key(dispute_id, event_id, recipient.id)
        needs_ack = respond_by is not None and recipient.role != "party"
        notification = Notification(
            id=key,
            dispute_id=dispute_id,
            event=kind,
            recipient_id=recipient.id,
            recipient_role=recipient.role,
            recipient_label=recipient.label,
            channel=recipient.channel,
            message=text,
            created_at=datetime.now(UTC),
            needs_ack=needs_ack,
            address=recipient.address,
        )
        data = encode(notification_to_proto(notification))
        try:
            await self._bus.notifications.create(key, data)
        except KeyWrongLastSequenceError:
            log.debug("notification_already_sent", recipient=recipient.id)
            entry = await self._bus.notifications.get(key)
            data = entry.value or data
            created = False
        else:
            created = True
        # Also after a crash between the two writes; the stream drops the repeat by id.
        await self._bus.js.publish(
            recipient_subject(recipient.id),
            data,
            headers=tracing.headers({"Nats-Msg-Id": key}),
        )
        if not created:
            return key, needs_ack
        log.info(
            "notification_recorded",
            notification_id=key,
            event_kind=kind,
            recipient=recipient.id,
            role=recipient.role,
            channel=recipient.channel,
            attempt=1,
        )
        return key, needs_ack
