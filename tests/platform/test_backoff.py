"""The one backoff: doubling from its base, capped, jitter within its bounds."""

from __future__ import annotations

from fengqiao.platform.backoff import backoff


def test_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff(n, 1.0, 60.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(0, 2.0, 300.0) == 2.0  # a first try that never failed waits the base


def test_jitter_stays_within_its_fraction_and_spreads() -> None:
    waits = [backoff(3, 2.0, 300.0, jitter=0.25) for _ in range(200)]
    assert all(6.0 <= w <= 10.0 for w in waits)
    assert len(set(waits)) > 100
