"""`fengqiao report`'s periods: whole days in China, both ends included."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fengqiao.cli.report import Period, rate


def test_a_period_is_whole_days_in_china_with_both_ends_included() -> None:
    request = Period(date(2026, 11, 21), date(2026, 11, 22)).request("东街街道", "")
    since = getattr(request, "from").ToDatetime(UTC)
    until = request.to.ToDatetime(UTC)
    # Midnight in China is 16:00 UTC the day before; the last day runs to its own end.
    assert (since, until) == (
        datetime(2026, 11, 20, 16, tzinfo=UTC), datetime(2026, 11, 22, 16, tzinfo=UTC),
    )  # fmt: skip
    assert request.street == "东街街道" and not request.community


def test_an_open_end_is_left_unset_and_said_in_words() -> None:
    request = Period(last=date(2026, 11, 22)).request("", "南关社区")
    assert not request.HasField("from") and request.HasField("to")
    assert Period(last=date(2026, 11, 22)).describe() == "截至 2026-11-22"
    assert Period(first=date(2026, 11, 1)).describe() == "2026-11-01 至今"
    assert Period(date(2026, 11, 1), date(2026, 11, 7)).describe() == "2026-11-01 至 2026-11-07"
    assert Period(date(2026, 11, 21), date(2026, 11, 21)).describe() == "2026-11-21"
    assert Period().describe() == "累计"


def test_a_rate_shows_what_it_counts_and_a_dash_when_there_is_nothing() -> None:
    assert rate(1, 1) == "100%（1/1）"
    assert rate(1, 3) == "33%（1/3）"
    assert rate(0, 0) == "—"
