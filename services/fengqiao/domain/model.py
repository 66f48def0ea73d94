"""Typed values for disputes and decisions; every module inside fengqiao speaks these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

# Days, working days and the times people read are China's.
CHINA: Final = ZoneInfo("Asia/Shanghai")


def local_minute(at: datetime) -> str:
    """`2026-12-03 06:31`: a time as people here read it, in China's time, to the minute."""
    return f"{at.astimezone(CHINA):%Y-%m-%d %H:%M}"


class Route(StrEnum):
    """The rungs of the ladder, lowest first."""

    LOCAL = "local"
    STREET_OFFICE = "street_office"
    COURT_FAST_TRACK = "court_fast_track"


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Status(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    IN_MEDIATION = "in_mediation"
    INFO_INCOMPLETE = "info_incomplete"
    AGREED = "agreed"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"

    @property
    def closed(self) -> bool:
        return self in _CLOSED

    @property
    def colour(self) -> Colour:
        """四色动态管理: green investigating, blue mediating, purple incomplete, red closed."""
        return _COLOURS[self]


class Colour(StrEnum):
    GREEN = "green"
    BLUE = "blue"
    PURPLE = "purple"
    RED = "red"


_CLOSED = frozenset({Status.AGREED, Status.RESOLVED, Status.WITHDRAWN})
_COLOURS = {
    Status.RECEIVED: Colour.GREEN,
    Status.ROUTED: Colour.GREEN,
    Status.ACCEPTED: Colour.GREEN,
    Status.IN_MEDIATION: Colour.BLUE,
    Status.INFO_INCOMPLETE: Colour.PURPLE,
    Status.AGREED: Colour.RED,
    Status.RESOLVED: Colour.RED,
    Status.WITHDRAWN: Colour.RED,
}


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    role: str
    phone: str = ""
    id_number: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    district: str = ""
    street: str = ""
    community: str = ""
    grid: str = ""
    address: str = ""

    def path(self) -> str:
        """`district/street/community/grid`: the address of the grid's own people."""
        return "/".join((self.district, self.street, self.community, self.grid))


@dataclass(frozen=True, slots=True)
class Dispute:
    category: str
    summary: str
    parties: tuple[Party, ...] = ()
    location: Location = field(default_factory=Location)
    amount_fen: int = 0
    channel: str = ""
    risk_flags: tuple[str, ...] = ()
    court_mediation_consent: bool = False
    occurred_at: datetime | None = None
    received_at: datetime | None = None
    id: str = ""


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Facts about a dispute's history, computed by triage before the rules run."""

    current_level: Route | None = None
    times_escalated: int = 0
    # Earlier disputes of the same category from the same grid within the policy's window.
    similar_recent: int = 0
    # Earlier disputes brought by the same party (by phone) within the window.
    party_recent: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    rule_id: str
    rule_title: str
    route: Route
    route_label: str
    handler: str
    handler_label: str
    priority: Priority
    deadline: datetime
    reason: str
    policy_version: str
    notify: tuple[str, ...]
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a routing or escalation read besides the dispute as submitted: with the
    step's trigger, level and time it decides the step again exactly as it was."""

    similar_recent: int = 0
    party_recent: int = 0
    times_escalated: int = 0
    # The dispute's risk flags then: a later `risk_raised` adds to the record's.
    risk_flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    summary: str
    rule_id: str = ""
    route: Route | None = None
    policy_version: str = ""
    event_id: str = ""
    from_route: Route | None = None
    trigger: str = ""
    actor: str = ""
    # Routed and escalated steps: what the policy read (None in records written before).
    context: StepContext | None = None


@dataclass(frozen=True, slots=True)
class DisputeRecord:
    dispute: Dispute
    status: Status
    request_id: str
    decision: Decision | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    step: int = 0
    response_due: datetime | None = None
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: int = 0
    accepted_late: bool = False

    @property
    def id(self) -> str:
        return self.dispute.id

    @property
    def level(self) -> Route | None:
        return self.decision.route if self.decision is not None else None

    def has_event(self, event_id: str) -> bool:
        return any(e.event_id == event_id for e in self.timeline)

    def overdue(self, now: datetime) -> bool:
        """Still open after its deadline (逾期): what a street office supervises (督办)."""
        return not self.status.closed and self.decision is not None and self.decision.deadline < now


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """Something a handler reports about a dispute (see `fengqiao.domain.lifecycle`)."""

    kind: str
    actor: str = ""
    reason: str = ""
    satisfaction: int = 0
    risk_flags: tuple[str, ...] = ()


class Delivery(StrEnum):
    """What became of a notification (ListNotifications shows it)."""

    UNKNOWN = "unknown"  # recorded before statuses were kept
    RECORDED = "recorded"  # not delivered yet, or being retried
    SENT = "sent"  # a real channel took it: webhook, email, SMS gateway
    LOGGED_ONLY = "logged_only"  # only written to the log: nobody was reached
    DEAD_LETTERED = "dead_lettered"  # its attempts ran out
    UNROUTABLE = "unroutable"  # the directory lists no channel for the recipient


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    dispute_id: str
    event: str
    recipient_id: str
    recipient_role: str
    recipient_label: str
    channel: str
    message: str
    created_at: datetime
    needs_ack: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    address: str = ""
    delivery: Delivery = Delivery.RECORDED
    # The kinds of channel that carried it (webhook, email, sms, log), once delivered.
    delivered_via: tuple[str, ...] = ()
    delivered_at: datetime | None = None
    anonymised: bool = False
