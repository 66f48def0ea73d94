"""China's working days (工作日): official holidays and make-up working days (调休) from
the `chinesecalendar` package. For a year the package has no data for yet, Monday to
Friday count as working days; `calendar_known_until` says up to which year it knows."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import chinese_calendar


@functools.cache
def calendar_known_until() -> int:
    """The last year whose official holidays and make-up days the package knows."""
    return int(max(day.year for day in chinese_calendar.holidays))


# chinesecalendar validates and looks up every date it is asked about; the figures ask
# about the same few thousand days again and again.
@functools.lru_cache(maxsize=16384)
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
