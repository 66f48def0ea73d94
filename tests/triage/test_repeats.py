"""Similar-dispute counts stay exact when many disputes of one grid are counted at once,
by one triage process or by two side by side."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fengqiao.domain.model import DisputeRecord, Status
from fengqiao.platform.bus import Bus
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.repeats import grid_key
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
