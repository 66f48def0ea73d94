"""Counts of similar disputes in NATS KV: same grid and category, and same party, within
the policy's window. The counts are context facts the rules read (`similar_recent`,
`party_recent`). The bucket's keys and values: `platform/repeats.py`."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

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

# A key's map as a counter holds it, with the bytes this process wrote for it (None when
# another process wrote them): a map one entry longer is those bytes and one entry.
Held = tuple[Seen, bytes | None]
_DAY_US = 86_400_000_000


class RepeatCounter:
    """Counts are read and written by compare-and-set. Within one process the writers
    of a key take turns (a busy grid's disputes would otherwise conflict with each
    other), and each turn starts from the state the last one wrote, so a count costs
    one write and no read unless another process wrote the key meanwhile."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}
        # What was written last to each key, and its revision.
        self._written: OrderedDict[str, tuple[Held, int]] = OrderedDict()

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
            seen, _ = await self._read(key)
            return _earlier(seen, dispute_id, at, since)
        async with self._turn(key):

            def decide(current: Held | None) -> Outcome[_Counted]:
                seen, last = current or ({}, None)
                earlier = _earlier(seen, dispute_id, at, since)
                if dispute_id in seen:
                    return Outcome(_Counted(earlier, seen, b""))
                kept = {k: v for k, v in seen.items() if v >= since}
                # Nothing left the window: what this process wrote last, one entry longer.
                grown = (
                    append_seen(last, dispute_id, at) if last and len(kept) == len(seen) else None
                )
                kept[dispute_id] = at
                data = grown or encode_seen(kept)
                return Outcome(_Counted(earlier, kept, data), data)

            known = self._written.pop(key, None)
            written = await compare_and_set(self._kv, key, _held, decide, known)
            counted = written.result
            if written.revision is not None:
                self._remember(key, (counted.seen, counted.data), written.revision)
            return counted.earlier

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

    def _remember(self, key: str, value: Held, revision: int) -> None:
        self._written[key] = (value, revision)
        if len(self._written) > REMEMBERED_KEYS:
            self._written.popitem(last=False)

    async def _read(self, key: str) -> tuple[Seen, int | None]:
        found = await read_entry(self._kv, key)
        return (decode_seen(found[0]), found[1]) if found else ({}, None)


@dataclass(frozen=True, slots=True)
class _Counted:
    earlier: int  # the count asked for
    seen: Seen  # the key's map after this dispute
    data: bytes  # its bytes as written


def _held(data: bytes) -> Held:
    """A stored map read back: its bytes were not written by this process."""
    return decode_seen(data), None


def _earlier(seen: Seen, dispute_id: str, at: int, since: int) -> int:
    return sum(1 for other, when in seen.items() if other != dispute_id and since <= when < at)
