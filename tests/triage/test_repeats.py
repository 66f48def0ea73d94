"""Similar-dispute counts stay exact when many disputes of one grid are counted at once,
by one triage process or by two side by side."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fengqiao.domain.epoch import micros
from fengqiao.domain.model import DisputeRecord, Status
from fengqiao.platform.bus import Bus
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.repeats import decode_seen, grid_key
from fengqiao.triage.repeats import RepeatCounter
from tests.conftest import sample

WINDOW_DAYS = 30
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def records(n: int) -> list[DisputeRecord]:
    """`n` disputes of one grid and category, a day apart, no applicant phone."""
    base = dispute_from_proto(sample("01").dispute)
    base = replace(base, parties=tuple(replace(p, phone="") for p in base.parties))
    return [
        DisputeRecord(
            dispute=replace(base, id=f"FQ-20261101-{i:010x}", received_at=START + timedelta(i)),
            status=Status.RECEIVED,
            request_id=f"r-{i}",
        )
        for i in range(n)
    ]


async def test_concurrent_counts_by_two_processes_lose_no_dispute(bus: Bus) -> None:
    disputes = records(WINDOW_DAYS - 5)  # all within one window: none is pruned
    shuffled = random.Random(7).sample(disputes, len(disputes))
    replicas = (RepeatCounter(bus.repeats), RepeatCounter(bus.repeats))
    await asyncio.gather(
        *(replicas[i % 2].counts(r, WINDOW_DAYS, remember=True) for i, r in enumerate(shuffled))
    )
    fresh = RepeatCounter(bus.repeats)
    for i, record in enumerate(disputes):
        similar, party = await fresh.counts(record, WINDOW_DAYS, remember=False)
        assert (similar, party) == (i, 0), record.id
    entry = await bus.repeats.get(grid_key(disputes[0]))
    assert entry.value is not None and entry.value.count(b"FQ-") == len(disputes)


async def test_a_second_count_of_one_dispute_changes_nothing(bus: Bus) -> None:
    first, second = records(2)
    counter = RepeatCounter(bus.repeats)
    assert await counter.counts(first, WINDOW_DAYS, remember=True) == (0, 0)
    assert await counter.counts(second, WINDOW_DAYS, remember=True) == (1, 0)
    revision = (await bus.repeats.get(grid_key(first))).revision
    other = RepeatCounter(bus.repeats)  # a replica that never saw the key
    assert await other.counts(second, WINDOW_DAYS, remember=True) == (1, 0)
    assert await counter.counts(second, WINDOW_DAYS, remember=True) == (1, 0)
    assert (await bus.repeats.get(grid_key(first))).revision == revision


async def test_counts_written_by_earlier_versions_still_count(bus: Bus) -> None:
    first, second, third = records(3)
    written = {
        r.id: r.dispute.received_at.isoformat() for r in (first, second) if r.dispute.received_at
    }
    await bus.repeats.put(grid_key(first), json.dumps(written).encode())
    counter = RepeatCounter(bus.repeats)
    assert await counter.counts(third, WINDOW_DAYS, remember=True) == (2, 0)
    assert await RepeatCounter(bus.repeats).counts(second, WINDOW_DAYS, remember=False) == (1, 0)


async def test_counts_match_a_pass_over_every_entry_as_the_window_slides(bus: Bus) -> None:
    """Out of order, repeated, and old enough to leave the window: each count is what a
    pass over the stored entries gives, whether the counter wrote the key last (and
    holds it) or another one did."""
    rng = random.Random(11)
    base = records(1)[0]
    days = [rng.uniform(0, 3 * WINDOW_DAYS) for _ in range(120)]
    ids = [f"FQ-20261101-{i:010x}" for i in range(len(days))]
    order = [*range(len(days)), *rng.sample(range(len(days)), 15)]  # some counted twice
    rng.shuffle(order)
    counters = (RepeatCounter(bus.repeats), RepeatCounter(bus.repeats))
    stored: dict[str, int] = {}  # what a pass over the stored map keeps
    window_us = WINDOW_DAYS * 86_400_000_000
    for turn, i in enumerate(order):
        at = START + timedelta(days=days[i])
        record = replace(base, dispute=replace(base.dispute, id=ids[i], received_at=at))
        at_us, since = micros(at), micros(at) - window_us
        want = sum(1 for k, v in stored.items() if k != ids[i] and since <= v < at_us)
        # Mostly one counter (it holds what it wrote), now and then the other.
        counter = counters[1] if turn % 7 == 0 else counters[0]
        assert await counter.counts(record, WINDOW_DAYS, remember=True) == (want, 0), turn
        if ids[i] not in stored:
            stored = {k: v for k, v in stored.items() if v >= since}
            stored[ids[i]] = at_us
    entry = await bus.repeats.get(grid_key(base))
    assert decode_seen(entry.value or b"{}") == stored
