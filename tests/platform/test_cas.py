"""The one compare-and-set loop against a real bucket: concurrent writers all land, a
stale first value is read again, a missing key is created, DELETE removes it."""

from __future__ import annotations

import asyncio

from fengqiao.platform.bus import Bus
from fengqiao.platform.cas import DELETE, Outcome, compare_and_set, read_entry


def _int(data: bytes) -> int:
    return int(data)


def _plus_one(current: int | None) -> Outcome[int]:
    n = (current or 0) + 1
    return Outcome(n, str(n).encode())


async def test_concurrent_writers_each_land_once(bus: Bus) -> None:
    kv = bus.requests
    results = await asyncio.gather(
        *(compare_and_set(kv, "cas.counter", _int, _plus_one) for _ in range(30))
    )
    assert sorted(w.result for w in results) == list(range(1, 31))
    found = await read_entry(kv, "cas.counter")
    assert found is not None and found[0] == b"30"
    assert max(w.revision or 0 for w in results) == found[1]


async def test_a_stale_first_value_is_read_again(bus: Bus) -> None:
    kv = bus.requests
    first = await kv.create("cas.stale", b"1")
    await kv.update("cas.stale", b"5", last=first)
    written = await compare_and_set(kv, "cas.stale", _int, _plus_one, known=(1, first))
    assert written.result == 6  # decided again on the newer value, not on the known one
    assert (await read_entry(kv, "cas.stale")) == (b"6", written.revision)


async def test_nothing_to_write_writes_nothing_and_delete_removes(bus: Bus) -> None:
    kv = bus.requests
    await kv.create("cas.gone", b"7")
    kept = await compare_and_set(kv, "cas.gone", _int, Outcome)
    assert kept.result == 7 and kept.revision is None
    await compare_and_set(kv, "cas.gone", _int, lambda n: Outcome(n, DELETE))
    assert await read_entry(kv, "cas.gone") is None
    again = await compare_and_set(kv, "cas.gone", _int, _plus_one)  # created anew
    assert again.result == 1 and await read_entry(kv, "cas.gone") == (b"1", again.revision)
