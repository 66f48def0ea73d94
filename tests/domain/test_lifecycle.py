"""The status machine of a dispute: what may happen when, and what it changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fengqiao.domain import (
    CaseEvent,
    Colour,
    Decision,
    DisputeRecord,
    FailedPrecondition,
    InvalidArgument,
    Priority,
    Route,
    Status,
)
from fengqiao.domain.lifecycle import apply_event, assign, validate_event
from fengqiao.domain.stats import compute_stats
from fengqiao.platform.convert import dispute_from_proto
from tests.conftest import sample

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def decision(route: Route = Route.LOCAL, at: datetime = T0, days: int = 3) -> Decision:
    return Decision(
        rule_id="r", rule_title="t", route=route, route_label=route.value, handler="",
        handler_label="", priority=Priority.NORMAL, deadline=at + timedelta(days=days),
        reason="理由", policy_version="v", notify=(), decided_at=at,
    )  # fmt: skip


def routed() -> DisputeRecord:
    dispute = replace(dispute_from_proto(sample("01").dispute), id="FQ-1", received_at=T0)
    new = DisputeRecord(dispute=dispute, status=Status.RECEIVED, request_id="r")
    return assign(new, decision(), trigger="submitted", event_id="routed-1",
                  response_due=T0 + timedelta(hours=24))  # fmt: skip


def step(record: DisputeRecord, kind: str, at: datetime, **fields: object) -> DisputeRecord:
    event = CaseEvent(kind=kind, **fields)  # type: ignore[arg-type]
    validate_event(event)
    return apply_event(record, event, f"{kind}-{at.isoformat()}", at)


def test_a_dispute_goes_green_blue_red_and_is_followed_up() -> None:
    record = routed()
    assert (record.status, record.status.colour, record.step) == (Status.ROUTED, Colour.GREEN, 1)
    record = step(record, "accepted", T0 + timedelta(hours=1), actor="网格员 王芳")
    assert record.status is Status.ACCEPTED and record.accepted_at is not None
    assert not record.accepted_late
    record = step(record, "mediation_started", T0 + timedelta(hours=2))
    assert record.status.colour is Colour.BLUE
    record = step(record, "agreement_reached", T0 + timedelta(days=1))
    assert (record.status, record.status.colour) == (Status.AGREED, Colour.RED)
    assert record.closed_at == T0 + timedelta(days=1)
    record = step(record, "follow_up_done", T0 + timedelta(days=8), satisfaction=5)
    assert record.satisfaction == 5
    assert [e.kind for e in record.timeline] == [
        "routed", "accepted", "mediation_started", "agreement_reached", "follow_up_done",
    ]  # fmt: skip
    with pytest.raises(FailedPrecondition, match="already"):
        step(record, "follow_up_done", T0 + timedelta(days=9), satisfaction=4)


def test_events_that_make_no_sense_now_say_when_they_would() -> None:
    record = routed()
    with pytest.raises(FailedPrecondition) as info:
        step(record, "agreement_reached", T0)
    assert "已分派待受理" in str(info.value) and "allowed when in_mediation" in str(info.value)
    closed = step(step(record, "accepted", T0), "resolved", T0)
    for kind in ("accepted", "mediation_started", "info_incomplete"):
        with pytest.raises(FailedPrecondition):
            step(closed, kind, T0)
    assert step(closed, "note", T0, reason="回访电话无人接听").status is Status.RESOLVED


def test_information_incomplete_is_purple_until_accepted_again() -> None:
    record = step(routed(), "info_incomplete", T0, reason="缺少房屋权属材料")
    assert record.status.colour is Colour.PURPLE
    assert step(record, "accepted", T0).status.colour is Colour.GREEN


def test_acceptance_after_the_response_time_is_remembered_as_late() -> None:
    record = step(routed(), "accepted", T0 + timedelta(hours=25))
    assert record.accepted_late


def test_risk_raised_adds_the_flags_to_the_dispute() -> None:
    record = step(routed(), "risk_raised", T0, risk_flags=("threat",))
    assert record.dispute.risk_flags == ("threat",) and record.status is Status.ROUTED


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (CaseEvent(kind="mediation_failed"), "event.reason"),
        (CaseEvent(kind="follow_up_done", satisfaction=6), "event.satisfaction"),
        (CaseEvent(kind="risk_raised"), "event.risk_flags"),
        (CaseEvent(kind="risk_raised", risk_flags=("fire",)), "event.risk_flags[0]"),
        (CaseEvent(kind="closed"), "event.kind"),
    ],
)
def test_bad_events_name_the_field(event: CaseEvent, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_event(event)
    assert field in [v.field for v in info.value.violations]


def test_escalation_records_the_rung_it_left_and_why() -> None:
    record = step(routed(), "accepted", T0)
    later = T0 + timedelta(days=4)
    record = assign(record, decision(Route.STREET_OFFICE, later), trigger="deadline_expired",
                    event_id="e", response_due=later)  # fmt: skip
    last = record.timeline[-1]
    assert (last.kind, last.from_route, last.route, last.trigger) == (
        "escalated", Route.LOCAL, Route.STREET_OFFICE, "deadline_expired",
    )  # fmt: skip
    assert "办理期限届满，升级至" in last.summary
    assert (record.step, record.status, record.accepted_at) == (2, Status.ROUTED, None)


def test_stats_count_the_seeds_figures() -> None:
    fast = step(step(step(routed(), "accepted", T0), "mediation_started", T0),
                "agreement_reached", T0 + timedelta(days=1))  # fmt: skip
    fast = step(fast, "follow_up_done", T0 + timedelta(days=8), satisfaction=4)
    slow = step(routed(), "accepted", T0 + timedelta(days=2))
    slow = step(step(slow, "mediation_started", T0), "mediation_failed", T0, reason="分歧大")
    slow = assign(slow, decision(Route.STREET_OFFICE), trigger="mediation_failed",
                  event_id="x", response_due=T0)  # fmt: skip
    late = step(step(routed(), "accepted", T0), "resolved", T0 + timedelta(days=5))
    stats = compute_stats([fast, slow, late])
    assert (stats.received, stats.routed, stats.accepted, stats.accepted_in_time) == (3, 3, 3, 2)
    assert (stats.closed, stats.closed_on_time, stats.agreements) == (2, 1, 1)
    assert (stats.mediation_failures, stats.escalated, stats.followed_up) == (1, 1, 1)
    assert stats.mediation_success_rate == 0.5 and stats.mean_satisfaction == 4.0
    assert compute_stats([fast], street="别的街道").received == 0
