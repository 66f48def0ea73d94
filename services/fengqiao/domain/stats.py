"""The figures of the seeds' reports (`DOMAIN.md`), computed from dispute records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fengqiao.domain.calendar import add_working_days
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
        loc, received = r.dispute.location, r.dispute.received_at
        if (street and loc.street != street) or (community and loc.community != community):
            continue
        if received is None or (since and received < since) or (until and received >= until):
            continue
        counts["received"] += 1
        counts["routed"] += r.step > 0
        counts["in_progress"] += not r.status.closed
        counts["overdue"] += now is not None and r.overdue(now)
        counts["escalated"] += r.step > 1
        accepted = any(e.kind == "accepted" for e in r.timeline)
        counts["accepted"] += accepted
        counts["accepted_in_time"] += accepted and not r.accepted_late
        counts["mediation_failures"] += sum(e.kind == "mediation_failed" for e in r.timeline)
        if r.status in (Status.AGREED, Status.RESOLVED) and r.closed_at is not None:
            counts["closed"] += 1
            on_time = r.decision is not None and r.closed_at <= r.decision.deadline
            counts["closed_on_time"] += on_time
            counts["agreements"] += r.status is Status.AGREED
            counts["settled_locally"] += r.level is Route.LOCAL
            if r.decision is not None and r.level is Route.COURT_FAST_TRACK:
                start = r.decision.decided_at.astimezone(CHINA).date()
                closed = r.closed_at.astimezone(CHINA).date()
                counts["fast_track_closed"] += 1
                counts["fast_track_closed_same_day"] += closed == start
                counts["fast_track_closed_in_14_working_days"] += closed <= add_working_days(
                    start, FAST_TRACK_WORKING_DAYS
                )
        if r.satisfaction:
            counts["followed_up"] += 1
            counts["satisfaction_total"] += r.satisfaction
    return Stats(**counts)
