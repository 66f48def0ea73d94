from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import chinese_calendar
import pytest

from fengqiao.domain.calendar import add_working_days, calendar_known_until
from fengqiao.domain.model import Dispute, PolicyContext
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.policy import CompiledPolicy, Deadline, DeadlineUnit, load_policy
from fengqiao.policy.deadlines import CHINA, calendar_runs_out, due
from tests.conftest import POLICY, sample


def test_working_days_skip_the_national_day_holiday() -> None:
    # 2026-09-30 is a Wednesday; 1–7 October are holidays; 10 October (Saturday) is worked.
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_working_days_skip_weekends_and_keep_the_time_of_day_in_china() -> None:
    friday_evening = datetime(2026, 11, 20, 18, 30, tzinfo=CHINA)
    assert due(friday_evening, Deadline(1, DeadlineUnit.WORKING_DAYS)) == datetime(
        2026, 11, 23, 18, 30, tzinfo=CHINA
    )


def test_working_days_are_counted_in_china_time_not_utc() -> None:
    # 17:00 UTC on Friday is already 01:00 on Saturday in China.
    start = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert due(start, Deadline(1, DeadlineUnit.WORKING_DAYS)).astimezone(CHINA).date() == date(
        2026, 11, 23
    )


def test_hours_and_days_are_plain_durations() -> None:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert due(start, Deadline(24, DeadlineUnit.HOURS)) == datetime(2026, 11, 22, 9, tzinfo=UTC)
    assert due(start, Deadline(7, DeadlineUnit.DAYS)) == datetime(2026, 11, 28, 9, tzinfo=UTC)


def test_a_year_without_official_data_falls_back_to_monday_to_friday() -> None:
    far = date(2031, 1, 3)  # a Friday
    assert far.year > calendar_known_until()
    assert add_working_days(far, 1) == date(2031, 1, 6)


def test_the_calendar_is_known_up_to_a_year_and_not_after() -> None:
    last = calendar_known_until()
    chinese_calendar.is_workday(date(last, 12, 31))  # known: no error
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(last + 1, 1, 1))


def test_a_working_day_deadline_into_an_unknown_year_is_flagged_as_estimated() -> None:
    policy = CompiledPolicy(load_policy(POLICY))
    last = calendar_known_until()
    labour = dispute_from_proto(sample("10").dispute)  # labour-room: 5 working days
    noise = dispute_from_proto(sample("01").dispute)  # 3 calendar days
    year_end = datetime(last, 12, 30, 10, tzinfo=CHINA)
    midyear = datetime(last, 6, 10, 10, tzinfo=CHINA)

    def estimated(dispute: Dispute, now: datetime) -> bool:
        decision = policy.decide(dispute, PolicyContext(), now)
        return policy.deadline_estimated(decision, dispute)

    assert policy.decide(labour, PolicyContext(), year_end).rule_id == "labour-room"
    assert estimated(labour, year_end)
    assert not estimated(labour, midyear)
    assert policy.decide(noise, PolicyContext(), year_end).deadline.year == last + 1
    assert not estimated(noise, year_end)  # calendar days need no calendar


def test_rules_check_can_tell_when_the_calendar_will_run_out() -> None:
    policy = load_policy(POLICY)
    last = calendar_known_until()
    longest = 15  # the shipped escalation rules: 15 working days
    assert calendar_runs_out(policy, date(last, 6, 1)) is None
    # Four weeks before the year ends, 15 working days still fit; one week before, not.
    assert calendar_runs_out(policy, date(last, 12, 1)) is None
    assert add_working_days(date(last, 12, 24), longest).year == last + 1
    assert calendar_runs_out(policy, date(last, 12, 24)) == last + 1
    hours_only = replace(
        policy,
        routes={
            r: replace(s, deadline=Deadline(24, DeadlineUnit.HOURS))
            for r, s in policy.routes.items()
        },
        rules=tuple(replace(rule, deadline=None) for rule in policy.rules),
        escalation=tuple(replace(rule, deadline=None) for rule in policy.escalation),
    )
    assert calendar_runs_out(hours_only, date(last, 12, 24)) is None
