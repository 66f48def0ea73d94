"""Counts of similar disputes in NATS KV: same grid and category, and same party, within
the policy's window. The counts are context facts the rules read (`similar_recent`,
`party_recent`). The bucket's keys and values: `platform/repeats.py`."""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import AsyncIterator

from nats.js.kv import KeyValue

from fengqiao.domain.epoch import micros
from fengqiao.domain.model import DisputeRecord
from fengqiao.platform.cas import Outcome, compare_and_set, read_entry
from fengqiao.platform.repeats import (
    Seen,
    append_seen,
    decode_seen,
    encode_seen,
    grid_key,
    party_keys,
)

# Keys whose last written state a counter remembers, to write over it without a read.
REMEMBERED_KEYS = 4096
_DAY_US = 86_400_000_000


class _Window:
    """A key's map as a counter holds it: also its times in order, so a count is two
    bisections rather than a pass over every entry (a busy grid's key holds every dispute
    of the window), and the bytes this process wrote for it, if it did (a map one entry
    longer is then those bytes and one entry)."""

    __slots__ = ("data", "seen", "times")

    def __init__(self, seen: Seen, data: bytes | None = None) -> None:
        self.seen = seen
        self.times = sorted(seen.values())
        self.data = data

    def earlier(self, dispute_id: str, at: int, since: int) -> int:
        """Disputes but `dispute_id` received in [since, at)."""
        n = bisect_left(self.times, at) - bisect_left(self.times, since)
        own = self.seen.get(dispute_id)
        return n - 1 if own is not None and since <= own < at else n

    def add(self, dispute_id: str, at: int, since: int) -> bytes:
        """Add `dispute_id`, drop what is older than `since`; the bytes to store. Changes
        this window in place: `decide` is handed one of its own each time."""
        if self.times and self.times[0] < since:
            self.seen = {k: v for k, v in self.seen.items() if v >= since}
            self.times = sorted(self.seen.values())
            self.data = None
        self.seen[dispute_id] = at
        insort(self.times, at)
        self.data = append_seen(self.data, dispute_id, at) if self.data else encode_seen(self.seen)
        return self.data


class RepeatCounter:
    """Counts are read and written by compare-and-set. Within one process the writers
    of a key take turns (a busy grid's disputes would otherwise conflict with each
    other), and each turn starts from the state the last one wrote, so a count costs
    one write and no read unless another process wrote the key meanwhile."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}
        # What was written last to each key, and its revision.
        self._written: OrderedDict[str, tuple[_Window, int]] = OrderedDict()

    async def counts(
        self, record: DisputeRecord, window_days: int, *, remember: bool
    ) -> tuple[int, int]:
        """(similar_recent, party_recent): earlier disputes within the window before this one.
        With `remember`, this dispute is counted for the ones after it (idempotently)."""
        if record.dispute.received_at is None:
            return 0, 0
        at = micros(record.dispute.received_at)
        since = at - window_days * _DAY_US
        similar, *by_party = await asyncio.gather(
            *(
                self._count(key, record.id, at, since, remember)
                for key in (grid_key(record), *party_keys(record))
            )
        )
        return similar, max(by_party, default=0)

    async def _count(self, key: str, dispute_id: str, at: int, since: int, remember: bool) -> int:
        if not remember:
            found = await read_entry(self._kv, key)
            return _Window(decode_seen(found[0])).earlier(dispute_id, at, since) if found else 0
        async with self._turn(key):

            def decide(current: _Window | None) -> Outcome[tuple[int, _Window]]:
                window = current or _Window({})
                earlier = window.earlier(dispute_id, at, since)
                if dispute_id in window.seen:
                    return Outcome((earlier, window))
                return Outcome((earlier, window), window.add(dispute_id, at, since))

            written = await compare_and_set(
                self._kv, key, _read, decide, self._written.pop(key, None)
            )
            earlier, window = written.result
            if written.revision is not None:
                self._remember(key, window, written.revision)
            return earlier

    @contextlib.asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        lock, users = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)

    def _remember(self, key: str, window: _Window, revision: int) -> None:
        self._written[key] = (window, revision)
        if len(self._written) > REMEMBERED_KEYS:
            self._written.popitem(last=False)


def _read(data: bytes) -> _Window:
    """A stored map read back: its bytes were not written by this process."""
    return _Window(decode_seen(data))
