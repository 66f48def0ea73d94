"""The figures of the seeds' reports (`DOMAIN.md`), computed from dispute records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fengqiao.domain.calendar import add_working_days
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import CHINA, DisputeRecord, Route, Status

# The fast-track teams' own measure (DOMAIN.md): closed within 14 working days.
FAST_TRACK_WORKING_DAYS: Final = 14


@dataclass(frozen=True, slots=True)
class Stats:
    received: int = 0
    routed: int = 0
    accepted: int = 0
    accepted_in_time: int = 0
    closed: int = 0
    closed_on_time: int = 0
    agreements: int = 0
    mediation_failures: int = 0
    escalated: int = 0
    followed_up: int = 0
    satisfaction_total: int = 0
    # Closed while still at the local level: 小事不出网格、矛盾不上交.
    settled_locally: int = 0
    # Closed in court fast-track mediation, counted from the day it got there.
    fast_track_closed: int = 0
    fast_track_closed_same_day: int = 0
    fast_track_closed_in_14_working_days: int = 0
    # Open now, and of those past their deadline (逾期, for supervision).
    in_progress: int = 0
    overdue: int = 0

    @property
    def handled_rate(self) -> float:
        """问题处置率: closed of those received."""
        return _rate(self.closed, self.received)

    @property
    def settled_locally_rate(self) -> float:
        return _rate(self.settled_locally, self.closed)

    @property
    def fast_track_same_day_rate(self) -> float:
        return _rate(self.fast_track_closed_same_day, self.fast_track_closed)

    @property
    def fast_track_14_working_days_rate(self) -> float:
        return _rate(self.fast_track_closed_in_14_working_days, self.fast_track_closed)

    @property
    def accepted_in_time_rate(self) -> float:
        return _rate(self.accepted_in_time, self.accepted)

    @property
    def closed_on_time_rate(self) -> float:
        return _rate(self.closed_on_time, self.closed)

    @property
    def mediation_success_rate(self) -> float:
        return _rate(self.agreements, self.agreements + self.mediation_failures)

    @property
    def escalation_rate(self) -> float:
        return _rate(self.escalated, self.routed)

    @property
    def mean_satisfaction(self) -> float:
        return _rate(self.satisfaction_total, self.followed_up)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True, slots=True)
class Facts:
    """What one record's figures are counted from (`facts_of`). The read model reads
    them straight off the stored message (`convert.facts_from_proto`): decoding the
    whole record for them cost most of a rebuild."""

    street: str
    community: str
    received_at: datetime | None
    status: Status
    step: int
    accepted: bool  # the timeline has an `accepted` entry
    accepted_late: bool
    mediation_failures: int  # `mediation_failed` entries in the timeline
    closed_at: datetime | None
    deadline: datetime | None  # the decision's
    decided_at: datetime | None  # the decision's
    level: Route | None
    satisfaction: int


def facts_of(r: DisputeRecord) -> Facts:
    decision = r.decision
    return Facts(
        street=r.dispute.location.street,
        community=r.dispute.location.community,
        received_at=r.dispute.received_at,
        status=r.status,
        step=r.step,
        accepted=any(e.kind == EventKind.ACCEPTED for e in r.timeline),
        accepted_late=r.accepted_late,
        mediation_failures=sum(e.kind == EventKind.MEDIATION_FAILED for e in r.timeline),
        closed_at=r.closed_at,
        deadline=decision.deadline if decision is not None else None,
        decided_at=decision.decided_at if decision is not None else None,
        level=r.level,
        satisfaction=r.satisfaction,
    )


def compute_stats(
    records: Iterable[DisputeRecord],
    *,
    street: str = "",
    community: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Stats:
    """Figures over the disputes received in [since, until) in the street/community;
    `overdue` as of `now` (none without it)."""
    counts = dict.fromkeys(Stats.__dataclass_fields__, 0)
    for r in records:
        f = facts_of(r)
        if (street and f.street != street) or (community and f.community != community):
            continue
        received = f.received_at
        if received is None or (since and received < since) or (until and received >= until):
            continue
        count(counts, f, now)
    return Stats(**counts)


def figures_of(f: Facts) -> Stats:
    """One record's own contribution to each figure (`overdue` aside)."""
    counts = dict.fromkeys(Stats.__dataclass_fields__, 0)
    count(counts, f)
    return Stats(**counts)


def count(counts: dict[str, int], f: Facts, now: datetime | None = None) -> None:
    """Add one record's figures to `counts` (by `Stats` field name); `overdue` as of
    `now` (not counted without it)."""
    counts["received"] += 1
    counts["routed"] += f.step > 0
    counts["in_progress"] += not f.status.closed
    counts["overdue"] += (
        now is not None and not f.status.closed and f.deadline is not None and f.deadline < now
    )
    counts["escalated"] += f.step > 1
    counts["accepted"] += f.accepted
    counts["accepted_in_time"] += f.accepted and not f.accepted_late
    counts["mediation_failures"] += f.mediation_failures
    if f.status in (Status.AGREED, Status.RESOLVED) and f.closed_at is not None:
        counts["closed"] += 1
        counts["closed_on_time"] += f.deadline is not None and f.closed_at <= f.deadline
        counts["agreements"] += f.status is Status.AGREED
        counts["settled_locally"] += f.level is Route.LOCAL
        if f.decided_at is not None and f.level is Route.COURT_FAST_TRACK:
            start = f.decided_at.astimezone(CHINA).date()
            closed = f.closed_at.astimezone(CHINA).date()
            counts["fast_track_closed"] += 1
            counts["fast_track_closed_same_day"] += closed == start
            counts["fast_track_closed_in_14_working_days"] += closed <= add_working_days(
                start, FAST_TRACK_WORKING_DAYS
            )
    if f.satisfaction:
        counts["followed_up"] += 1
        counts["satisfaction_total"] += f.satisfaction
