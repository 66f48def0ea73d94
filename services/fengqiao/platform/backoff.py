"""The one backoff: how long to wait before trying something again."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float, jitter: float = 0.0) -> float:
    """Seconds before try `attempt + 1` after `attempt` failed ones (1, 2, …): `base`,
    doubled each time, at most `cap`, then spread by up to ±`jitter` (a fraction) so
    that many retrying together do not all come back in the same moment."""
    raw = min(base * 2.0 ** max(attempt - 1, 0), cap)
    return raw * random.uniform(1 - jitter, 1 + jitter) if jitter else raw  # not security
