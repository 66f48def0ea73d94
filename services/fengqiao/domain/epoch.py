"""Times as whole microseconds since 1970-01-01 UTC: exact (a datetime holds microseconds),
cheap, and what the read model's columns, the repeat counts and Timestamps are built from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """`at` (an aware time) as microseconds since the epoch."""
    return (at - EPOCH) // _MICROSECOND


def from_micros(us: int) -> datetime:
    """The UTC time `us` microseconds after the epoch."""
    return EPOCH + us * _MICROSECOND
