"""The board's figures, shared by every page that shows the same filter.

Each page asks again after the revisions it is shown (`seen`: the last event id it
received). Figures that already include that revision are answered as they are; newer
ones are computed at most once every `MIN_INTERVAL_SECONDS` per filter however many pages
ask, and again after `MAX_AGE_SECONDS` (what is overdue changes with the clock alone).
At a million disputes one computation is a few hundred milliseconds of intake's time
(counts by colour, three periods' figures, two lists): ten wall screens must not make
it ten."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog

log = structlog.get_logger()

MIN_INTERVAL_SECONDS: Final = 2.0
MAX_AGE_SECONDS: Final = 30.0
# Filters remembered; the oldest is forgotten first (URLs can name any filter).
MAX_FILTERS: Final = 64


@dataclass(frozen=True, slots=True)
class _Kept:
    seq: int  # the last revision of the bucket when they were computed
    at: float  # time.monotonic() then
    values: dict[str, Any]


class SharedSummaries:
    def __init__(self) -> None:
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(
        self,
        key: str,
        seen: int,
        last_seq: Callable[[], Awaitable[int]],
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The figures of filter `key` including revision `seen` of the bucket."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            kept = self._kept.get(key)
            now = time.monotonic()
            if kept is not None and kept.seq >= seen and now - kept.at < MAX_AGE_SECONDS:
                return kept.values
            if kept is not None and (wait := kept.at + MIN_INTERVAL_SECONDS - now) > 0:
                await asyncio.sleep(wait)  # the pace for this filter, not a wait for a state
            seq = await last_seq()  # before the reads: what they return includes it
            values = await compute()
            self._kept[key] = _Kept(seq, time.monotonic(), values)
            self._kept.move_to_end(key)
            while len(self._kept) > MAX_FILTERS:
                forgotten, _ = self._kept.popitem(last=False)
                self._locks.pop(forgotten, None)
            log.debug("console_summary_computed", filter=key, seq=seq)
            return values
