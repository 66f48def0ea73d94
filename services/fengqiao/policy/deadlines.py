"""Deadlines in hours, calendar days or working days (工作日).

Working days follow China's official holidays and make-up working days (调休) from the
`chinesecalendar` package. For a year the package has no data for yet, Monday to Friday
count as working days; `calendar_known_until` and `working_days_known` let callers say so.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import chinese_calendar

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


@functools.cache
def calendar_known_until() -> int:
    """The last year whose official holidays and make-up days the package knows."""
    return int(max(day.year for day in chinese_calendar.holidays))


def working_days_known(day: date) -> bool:
    """Whether the official calendar for `day`'s year is published in the package."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


@functools.lru_cache(maxsize=4096)
def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (`start` itself does not count)."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


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
