"""Times as microseconds since the epoch: exact both ways, before 1970 too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from fengqiao.domain.epoch import EPOCH, from_micros, micros

TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(TIMES)
def test_a_time_survives_the_round_trip_exactly(at: datetime) -> None:
    assert from_micros(micros(at)) == at
    assert from_micros(micros(at)).tzinfo is UTC


def test_the_same_instant_in_another_zone_is_the_same_number() -> None:
    beijing = datetime(2026, 11, 21, 17, 0, 0, 250, tzinfo=timezone(timedelta(hours=8)))
    assert micros(beijing) == micros(datetime(2026, 11, 21, 9, 0, 0, 250, tzinfo=UTC))
    assert micros(EPOCH - timedelta(microseconds=1)) == -1
