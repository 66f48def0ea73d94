"""The figures of the seeds' reports, from records built by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from fengqiao.domain.model import (
    CHINA,
    Decision,
    Dispute,
    DisputeRecord,
    Priority,
    Route,
    Status,
)
from fengqiao.domain.stats import compute_stats
from fengqiao.platform.convert import stats_to_proto

# Friday 25 September 2026: the National Day holiday comes within the next 14 working days.
ROUTED = datetime(2026, 9, 25, 9, 0, tzinfo=CHINA)


def record(route: Route, status: Status, closed_after: timedelta | None) -> DisputeRecord:
    decision = Decision(
        rule_id="r", rule_title="t", route=route, route_label="", handler="", handler_label="",
        priority=Priority.NORMAL, deadline=ROUTED + timedelta(days=30), reason="",
        policy_version="v", notify=(), decided_at=ROUTED,
    )  # fmt: skip
    return DisputeRecord(
        dispute=Dispute(category="contract_debt", summary="s", received_at=ROUTED),
        status=status,
        request_id="q",
        decision=decision,
        step=1,
        closed_at=ROUTED + closed_after if closed_after is not None else None,
    )


def test_local_settlement_and_the_fast_track_measures() -> None:
    fast = Route.COURT_FAST_TRACK
    records = [
        record(Route.LOCAL, Status.AGREED, timedelta(days=2)),
        record(Route.LOCAL, Status.IN_MEDIATION, None),
        replace(record(Route.STREET_OFFICE, Status.RESOLVED, timedelta(days=9)), step=2),
        record(fast, Status.AGREED, timedelta(hours=6)),  # same day
        # After Fri 25 Sep, with 1–7 Oct off and Sat 10 Oct worked:
        record(fast, Status.AGREED, timedelta(days=26)),  # Wed 21 Oct: the 14th working day
        record(fast, Status.RESOLVED, timedelta(days=27)),  # Thu 22 Oct: the 15th
        record(fast, Status.WITHDRAWN, timedelta(days=1)),  # withdrawn is not handled
    ]
    stats = compute_stats(records)
    assert (stats.received, stats.closed, stats.settled_locally) == (7, 5, 1)
    assert (stats.in_progress, stats.overdue) == (1, 0)  # overdue needs a time to be judged at
    assert stats.handled_rate == 5 / 7 and stats.settled_locally_rate == 1 / 5
    assert (stats.fast_track_closed, stats.fast_track_closed_same_day) == (3, 1)
    assert stats.fast_track_closed_in_14_working_days == 2
    assert stats.fast_track_14_working_days_rate == 2 / 3
    message = stats_to_proto(stats)
    assert (message.settled_locally_rate, message.fast_track_same_day_rate) == (1 / 5, 1 / 3)
    assert message.received == 7 and message.mediation_success_rate == stats.mediation_success_rate


def test_no_disputes_give_zero_rates_not_errors() -> None:
    stats = compute_stats([])
    assert (stats.handled_rate, stats.settled_locally_rate, stats.fast_track_same_day_rate) == (
        0.0, 0.0, 0.0,
    )  # fmt: skip


def test_overdue_is_open_past_the_deadline_as_of_now() -> None:
    open_one = record(Route.LOCAL, Status.IN_MEDIATION, None)
    closed_late = record(Route.LOCAL, Status.RESOLVED, timedelta(days=40))
    assert open_one.decision is not None
    deadline = open_one.decision.deadline
    assert not open_one.overdue(deadline) and open_one.overdue(deadline + timedelta(seconds=1))
    assert not closed_late.overdue(deadline + timedelta(days=60))
    later = compute_stats([open_one, closed_late], now=deadline + timedelta(days=1))
    assert (later.in_progress, later.overdue) == (1, 1)
    assert compute_stats([open_one], now=deadline).overdue == 0
