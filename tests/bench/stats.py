"""Percentiles that stay honest when some operations never finished within the run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Latencies:
    """Milliseconds. `unfinished` operations count as slower than every finished one, so a
    percentile that falls among them is reported as not reached, not as a small number."""

    count: int
    unfinished: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, finished: Sequence[float], unfinished: int = 0) -> Latencies:
        ordered = sorted(finished)
        total = len(ordered) + unfinished

        def pick(q: float) -> float:
            if not total:
                return math.nan
            rank = max(math.ceil(q * total) - 1, 0)  # nearest rank
            return ordered[rank] if rank < len(ordered) else math.inf

        return cls(total, unfinished, pick(0.50), pick(0.95), pick(0.99))

    def describe(self, unit: str = "ms") -> str:
        return "  ".join(f"{name} {_fmt(value, unit)}" for name, value in self.quantiles())

    def quantiles(self) -> tuple[tuple[str, float], ...]:
        return (("p50", self.p50), ("p95", self.p95), ("p99", self.p99))


def _fmt(ms: float, unit: str) -> str:
    if math.isinf(ms):
        return "not reached"
    if math.isnan(ms):
        return "-"
    if unit == "s":
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms"
