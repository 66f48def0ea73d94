"""Deadlines in hours, calendar days or working days (工作日); the working-day calendar
itself is `fengqiao.domain.calendar`."""

from __future__ import annotations

from datetime import datetime, timedelta

from fengqiao.domain.calendar import (
    add_working_days,
    calendar_known_until,
    is_working_day,
    working_days_known,
)
from fengqiao.domain.model import CHINA
from fengqiao.policy.model import Deadline, DeadlineUnit

__all__ = [
    "CHINA",
    "add_working_days",
    "calendar_known_until",
    "due",
    "is_working_day",
    "working_days_known",
]


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
