"""Protobuf at the border, typed values inside: conversions between `fengqiao.v1` messages
and `fengqiao.domain` values. The bytes on the bus and in KV: `platform/codec.py`.

It sits in `platform/` because the platform's own stores (`store.py`, `policies.py`) read
and write records through it; it imports only `fengqiao.domain` and the generated
`fengqiao.v1`, so everything above the platform may use it too."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Final

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fengqiao.domain.epoch import from_micros, micros
from fengqiao.domain.errors import FieldViolation, InvalidArgument
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import (
    CaseEvent,
    Colour,
    Decision,
    Delivery,
    Dispute,
    DisputeRecord,
    Location,
    Notification,
    Party,
    PolicyContext,
    Priority,
    Route,
    Status,
    StepContext,
    TimelineEntry,
)
from fengqiao.domain.stats import Facts, Stats
from fengqiao.v1 import dispute_pb2 as pb
from fengqiao.v1 import intake_pb2, notification_pb2, triage_pb2

_ROUTES = {
    Route.LOCAL: pb.ROUTE_LOCAL,
    Route.STREET_OFFICE: pb.ROUTE_STREET_OFFICE,
    Route.COURT_FAST_TRACK: pb.ROUTE_COURT_FAST_TRACK,
}
_ROUTES_BACK = {v: k for k, v in _ROUTES.items()}
_PRIORITIES = {Priority.NORMAL: pb.PRIORITY_NORMAL, Priority.URGENT: pb.PRIORITY_URGENT}
_PRIORITIES_BACK = {v: k for k, v in _PRIORITIES.items()}
_STATUSES = {status: pb.DisputeStatus.Value(f"DISPUTE_STATUS_{status.name}") for status in Status}
_STATUSES_BACK = {v: k for k, v in _STATUSES.items()}
_COLOURS = {colour: pb.Colour.Value(f"COLOUR_{colour.name}") for colour in Colour}
_COLOURS_BACK = {v: k for k, v in _COLOURS.items()}


# Strings that many records repeat (labels, policy versions, places, kinds, codes) are
# shared, not copied per record: intake's read model holds every record, and sharing
# them took 39% off its memory (4.3 → 2.6 MB per thousand freshly routed disputes).
_shared = sys.intern


# -- scalars --------------------------------------------------------------------------


# Timestamp's own FromDatetime/ToDatetime are pure Python over time tuples, and every
# record holds a dozen times: plain arithmetic from the epoch does the same ~3× faster.
# What a Timestamp may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_SECONDS = range(-62_135_596_800, 253_402_300_800)
_NANOS = range(1_000_000_000)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone(UTC)  # a naive time is local, as FromDatetime takes it
    seconds, us = divmod(micros(value), 1_000_000)
    return Timestamp(seconds=seconds, nanos=us * 1000)


def from_timestamp(message: Message, field: str, path: str = "") -> datetime | None:
    """The time in `message.field`, if set; `InvalidArgument` on `path` (default: `field`)
    when it lies outside the years 1–9999."""
    if not message.HasField(field):
        return None
    ts: Timestamp = getattr(message, field)
    if ts.seconds not in _SECONDS or ts.nanos not in _NANOS:
        raise InvalidArgument(
            [FieldViolation(path or field, "时间超出范围（a time between the years 1 and 9999）")]
        )
    return from_micros(ts.seconds * 1_000_000 + ts.nanos // 1000)


def route_to_proto(route: Route | None) -> pb.Route.ValueType:
    return _ROUTES[route] if route is not None else pb.ROUTE_UNSPECIFIED


def route_from_proto(value: pb.Route.ValueType) -> Route | None:
    return _ROUTES_BACK.get(value)


def status_to_proto(status: Status | None) -> pb.DisputeStatus.ValueType:
    return _STATUSES[status] if status is not None else pb.DISPUTE_STATUS_UNSPECIFIED


def status_from_proto(value: pb.DisputeStatus.ValueType) -> Status | None:
    return _STATUSES_BACK.get(value)


def colour_to_proto(value: Colour) -> pb.Colour.ValueType:
    return _COLOURS[value]


def colour_from_proto(value: pb.Colour.ValueType) -> Colour | None:
    return _COLOURS_BACK.get(value)


def event_from_proto(m: pb.CaseEvent) -> CaseEvent:
    return CaseEvent(
        kind=m.kind.strip(),
        actor=m.actor.strip(),
        reason=m.reason.strip(),
        satisfaction=m.satisfaction,
        risk_flags=tuple(f.strip() for f in m.risk_flags),
    )


def event_to_proto(e: CaseEvent) -> pb.CaseEvent:
    return pb.CaseEvent(
        kind=e.kind,
        actor=e.actor,
        reason=e.reason,
        satisfaction=e.satisfaction,
        risk_flags=list(e.risk_flags),
    )


# -- dispute ----------------------------------------------------------------------------


def dispute_from_proto(m: pb.Dispute) -> Dispute:
    loc = m.location
    return Dispute(
        id=m.id,
        category=_shared(m.category.strip()),
        summary=m.summary,
        parties=tuple(
            Party(
                name=p.name.strip(),
                role=_shared(p.role.strip()),
                phone=p.phone.strip(),
                id_number=p.id_number.strip(),
                email=p.email.strip(),
            )
            for p in m.parties
        ),
        location=Location(
            district=_shared(loc.district.strip()),
            street=_shared(loc.street.strip()),
            community=_shared(loc.community.strip()),
            grid=_shared(loc.grid.strip()),
            address=loc.address.strip(),
        ),
        amount_fen=m.amount_fen,
        channel=_shared(m.channel.strip()),
        risk_flags=tuple(_shared(f.strip()) for f in m.risk_flags),
        court_mediation_consent=m.court_mediation_consent,
        occurred_at=from_timestamp(m, "occurred_at", "dispute.occurred_at"),
        received_at=from_timestamp(m, "received_at", "dispute.received_at"),
    )


def dispute_to_proto(d: Dispute) -> pb.Dispute:
    loc = d.location
    return pb.Dispute(
        id=d.id,
        category=d.category,
        summary=d.summary,
        parties=[
            pb.Party(name=p.name, role=p.role, phone=p.phone, id_number=p.id_number, email=p.email)
            for p in d.parties
        ],
        location=pb.Location(
            district=loc.district,
            street=loc.street,
            community=loc.community,
            grid=loc.grid,
            address=loc.address,
        ),
        amount_fen=d.amount_fen,
        channel=d.channel,
        risk_flags=list(d.risk_flags),
        court_mediation_consent=d.court_mediation_consent,
        occurred_at=timestamp(d.occurred_at),
        received_at=timestamp(d.received_at),
    )


def context_from_proto(m: triage_pb2.PolicyContext) -> PolicyContext:
    return PolicyContext(
        current_level=route_from_proto(m.current_level),
        times_escalated=max(m.times_escalated, 0),
        similar_recent=max(m.similar_recent, 0),
        party_recent=max(m.party_recent, 0),
    )


# -- decision and record ------------------------------------------------------------------


def decision_to_proto(d: Decision) -> pb.Decision:
    return pb.Decision(
        rule_id=d.rule_id,
        rule_title=d.rule_title,
        route=route_to_proto(d.route),
        route_label=d.route_label,
        handler=d.handler,
        handler_label=d.handler_label,
        priority=_PRIORITIES[d.priority],
        deadline=timestamp(d.deadline),
        reason=d.reason,
        policy_version=d.policy_version,
        notify=list(d.notify),
        decided_at=timestamp(d.decided_at),
    )


def decision_from_proto(m: pb.Decision) -> Decision:
    route = route_from_proto(m.route)
    deadline = from_timestamp(m, "deadline")
    decided_at = from_timestamp(m, "decided_at")
    if route is None or deadline is None or decided_at is None:
        raise ValueError("a decision needs a route, a deadline and a decision time")
    return Decision(
        rule_id=_shared(m.rule_id),
        rule_title=_shared(m.rule_title),
        route=route,
        route_label=_shared(m.route_label),
        handler=_shared(m.handler),
        handler_label=_shared(m.handler_label),
        priority=_PRIORITIES_BACK.get(m.priority, Priority.NORMAL),
        deadline=deadline,
        reason=m.reason,
        policy_version=_shared(m.policy_version),
        notify=tuple(_shared(n) for n in m.notify),
        decided_at=decided_at,
    )


def entry_to_proto(e: TimelineEntry) -> pb.TimelineEntry:
    return pb.TimelineEntry(
        at=timestamp(e.at),
        kind=e.kind,
        summary=e.summary,
        rule_id=e.rule_id,
        route=route_to_proto(e.route),
        policy_version=e.policy_version,
        event_id=e.event_id,
        from_route=route_to_proto(e.from_route),
        trigger=e.trigger,
        actor=e.actor,
        context=_step_context_to_proto(e.context) if e.context is not None else None,
    )


def _step_context_to_proto(c: StepContext) -> pb.StepContext:
    return pb.StepContext(
        similar_recent=c.similar_recent,
        party_recent=c.party_recent,
        times_escalated=c.times_escalated,
        risk_flags=c.risk_flags,
    )


def _step_context_from_proto(m: pb.StepContext) -> StepContext:
    return StepContext(
        similar_recent=m.similar_recent,
        party_recent=m.party_recent,
        times_escalated=m.times_escalated,
        risk_flags=tuple(_shared(f) for f in m.risk_flags),
    )


def entry_from_proto(m: pb.TimelineEntry) -> TimelineEntry:
    return TimelineEntry(
        at=from_timestamp(m, "at") or datetime.fromtimestamp(0, UTC),
        kind=_shared(m.kind),
        summary=m.summary,
        rule_id=_shared(m.rule_id),
        route=route_from_proto(m.route),
        policy_version=_shared(m.policy_version),
        event_id=m.event_id,
        from_route=route_from_proto(m.from_route),
        trigger=_shared(m.trigger),
        actor=_shared(m.actor),
        context=_step_context_from_proto(m.context) if m.HasField("context") else None,
    )


def record_to_proto(r: DisputeRecord) -> pb.DisputeRecord:
    return pb.DisputeRecord(
        dispute=dispute_to_proto(r.dispute),
        status=status_to_proto(r.status),
        decision=decision_to_proto(r.decision) if r.decision is not None else None,
        timeline=[entry_to_proto(e) for e in r.timeline],
        request_id=r.request_id,
        colour=_COLOURS[r.status.colour],
        step=r.step,
        response_due=timestamp(r.response_due),
        accepted_at=timestamp(r.accepted_at),
        closed_at=timestamp(r.closed_at),
        satisfaction=r.satisfaction,
        accepted_late=r.accepted_late,
    )


def facts_from_proto(m: pb.DisputeRecord) -> Facts:
    """What the figures count (`stats.facts_of`), read off a stored record without
    decoding the rest of it."""
    status = status_from_proto(m.status)
    if status is None:
        raise ValueError("a stored dispute record has no status")
    decision = m.decision if m.HasField("decision") else None
    if decision is not None and not (
        decision.HasField("deadline") and decision.HasField("decided_at") and decision.route
    ):
        raise ValueError("a decision needs a route, a deadline and a decision time")
    accepted = failures = 0
    for entry in m.timeline:
        accepted |= entry.kind == EventKind.ACCEPTED
        failures += entry.kind == EventKind.MEDIATION_FAILED
    return Facts(
        street=m.dispute.location.street.strip(),
        community=m.dispute.location.community.strip(),
        received_at=from_timestamp(m.dispute, "received_at", "dispute.received_at"),
        status=status,
        step=m.step,
        accepted=bool(accepted),
        accepted_late=m.accepted_late,
        mediation_failures=failures,
        closed_at=from_timestamp(m, "closed_at"),
        deadline=from_timestamp(decision, "deadline") if decision is not None else None,
        decided_at=from_timestamp(decision, "decided_at") if decision is not None else None,
        level=route_from_proto(decision.route) if decision is not None else None,
        satisfaction=m.satisfaction,
    )


def record_from_proto(m: pb.DisputeRecord) -> DisputeRecord:
    status = status_from_proto(m.status)
    if status is None:
        raise ValueError("a stored dispute record has no status")
    return DisputeRecord(
        dispute=dispute_from_proto(m.dispute),
        status=status,
        request_id=m.request_id,
        decision=decision_from_proto(m.decision) if m.HasField("decision") else None,
        timeline=tuple(entry_from_proto(e) for e in m.timeline),
        step=m.step,
        response_due=from_timestamp(m, "response_due"),
        accepted_at=from_timestamp(m, "accepted_at"),
        closed_at=from_timestamp(m, "closed_at"),
        satisfaction=m.satisfaction,
        accepted_late=m.accepted_late,
    )


# -- notifications ------------------------------------------------------------------------


def notification_to_proto(n: Notification) -> notification_pb2.Notification:
    return notification_pb2.Notification(
        id=n.id,
        dispute_id=n.dispute_id,
        event=n.event,
        recipient_id=n.recipient_id,
        recipient_role=n.recipient_role,
        recipient_label=n.recipient_label,
        channel=n.channel,
        message=n.message,
        created_at=timestamp(n.created_at),
        needs_ack=n.needs_ack,
        acknowledged_at=timestamp(n.acknowledged_at),
        acknowledged_by=n.acknowledged_by,
        address=n.address,
        delivery_status=delivery_status_to_proto(n.delivery),
        delivered_via=n.delivered_via,
        delivered_at=timestamp(n.delivered_at),
        anonymised=n.anonymised,
    )


def notification_from_proto(m: notification_pb2.Notification) -> Notification:
    return Notification(
        id=m.id,
        dispute_id=m.dispute_id,
        event=m.event,
        recipient_id=m.recipient_id,
        recipient_role=m.recipient_role,
        recipient_label=m.recipient_label,
        channel=m.channel,
        message=m.message,
        created_at=from_timestamp(m, "created_at") or datetime.fromtimestamp(0, UTC),
        needs_ack=m.needs_ack,
        acknowledged_at=from_timestamp(m, "acknowledged_at"),
        acknowledged_by=m.acknowledged_by,
        address=m.address,
        delivery=delivery_status_from_proto(m.delivery_status),
        delivered_via=tuple(m.delivered_via),
        delivered_at=from_timestamp(m, "delivered_at"),
        anonymised=m.anonymised,
    )


def delivery_status_from_proto(code: int) -> Delivery:
    return _DELIVERIES.get(notification_pb2.DeliveryStatus.ValueType(code), Delivery.UNKNOWN)


def delivery_status_to_proto(d: Delivery) -> notification_pb2.DeliveryStatus.ValueType:
    return notification_pb2.DeliveryStatus.Value(
        f"DELIVERY_STATUS_{_DELIVERY_NAMES.get(d, 'UNSPECIFIED')}"
    )


_DELIVERY_NAMES: Final[dict[Delivery, str]] = {
    d: d.name for d in Delivery if d is not Delivery.UNKNOWN
}
_DELIVERIES: Final = {
    notification_pb2.DeliveryStatus.Value(f"DELIVERY_STATUS_{name}"): d
    for d, name in _DELIVERY_NAMES.items()
}


# -- figures -------------------------------------------------------------------------------


def stats_to_proto(stats: Stats) -> intake_pb2.Stats:
    """Every field of the message, from the count or rate of `stats` of the same name."""
    return intake_pb2.Stats(
        **{name: getattr(stats, name) for name in intake_pb2.Stats.DESCRIPTOR.fields_by_name}
    )
