"""Deadlines in hours, calendar days or working days (工作日); the working-day calendar
itself is `fengqiao.domain.calendar`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from fengqiao.domain.calendar import add_working_days, calendar_known_until
from fengqiao.domain.model import CHINA
from fengqiao.policy.model import AmountBands, Deadline, DeadlineUnit, Policy

__all__ = ["CHINA", "calendar_runs_out", "due"]


def due(start: datetime, deadline: Deadline) -> datetime:
    """When a deadline that starts at `start` (timezone-aware) falls due.

    Working-day deadlines keep the time of day and count days in China's time zone.
    """
    match deadline.unit:
        case DeadlineUnit.SECONDS:
            return start + timedelta(seconds=deadline.amount)
        case DeadlineUnit.MINUTES:
            return start + timedelta(minutes=deadline.amount)
        case DeadlineUnit.HOURS:
            return start + timedelta(hours=deadline.amount)
        case DeadlineUnit.DAYS:
            return start + timedelta(days=deadline.amount)
        case DeadlineUnit.WORKING_DAYS:
            local = start.astimezone(CHINA)
            day = add_working_days(local.date(), deadline.amount)
            return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


def calendar_runs_out(policy: Policy, today: date) -> int | None:
    """The first year without official holidays that a working-day deadline of `policy`
    set `today` can reach, or None if every one stays within the known calendar."""
    longest = max(
        (d.amount for d in _deadlines(policy) if d.unit is DeadlineUnit.WORKING_DAYS), default=0
    )
    known = calendar_known_until()
    if longest and add_working_days(today, longest).year > known:
        return known + 1
    return None


def _deadlines(policy: Policy) -> Iterator[Deadline]:
    given = [spec.deadline for spec in policy.routes.values()]
    given += [rule.deadline for rule in policy.all_rules() if rule.deadline is not None]
    given += [policy.timing.response, policy.timing.follow_up_after]
    for deadline in given:
        if isinstance(deadline, AmountBands):
            yield from (band.deadline for band in deadline.bands)
        else:
            yield deadline
