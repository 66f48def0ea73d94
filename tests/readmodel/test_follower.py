"""The read model fed from a real bus: resumes after what it applied, rebuilds when its
version changes, and answers reads only once it holds the caller's writes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text, update
from structlog.testing import capture_logs

from fengqiao.domain.errors import Unavailable
from fengqiao.domain.stats import compute_stats
from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.readmodel import DISPUTES, DisputeFilter, ReadModel
from fengqiao.readmodel import follower as follower_module
from fengqiao.readmodel.schema import meta
from tests.conftest import settings_for
from tests.readmodel.records import records, stored

NOW_RECORDS = 40


async def test_a_restart_resumes_after_the_sequence_it_stored(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, data_dir=tmp_path)
    rs = records(7, NOW_RECORDS)
    for r in rs:
        await bus.disputes.put(r.id, stored(r))
    reads = await ReadModel.start(bus, settings, [DISPUTES])
    try:
        first = await reads.stats(street="", community="", since=None, until=None, now=_now())
    finally:
        await reads.stop()
    assert first.received == compute_stats(rs).received == NOW_RECORDS
    more = records(8, 5)
    for r in more:
        await bus.disputes.put(r.id, stored(r))
    with capture_logs() as logs:
        reads = await ReadModel.start(bus, settings, [DISPUTES])
        try:
            page, _ = await reads.disputes(DisputeFilter(), 500, "", _now())
        finally:
            await reads.stop()
    (started,) = [e for e in logs if e["event"] == "projection_started"]
    assert started["applied_seq"] == NOW_RECORDS  # resumed: nothing read twice
    assert {r.id for r in page} == {r.id for r in rs + more}
    assert not [e for e in logs if e["event"] == "readmodel_reset"]


async def test_a_changed_version_rebuilds_from_the_bus(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, data_dir=tmp_path)
    rs = records(9, 30)
    for r in rs:
        await bus.disputes.put(r.id, stored(r))
    reads = await ReadModel.start(bus, settings, [DISPUTES])
    await reads.disputes(DisputeFilter(), 1, "", _now())
    with reads.engine.begin() as connection:
        connection.execute(update(meta).values(value="schema 0000, projection 0"))
        connection.execute(text("UPDATE disputes SET street = 'stale'"))
    await reads.stop()
    with capture_logs() as logs:
        reads = await ReadModel.start(bus, settings, [DISPUTES])
        try:
            page, _ = await reads.disputes(DisputeFilter(), 500, "", _now())
        finally:
            await reads.stop()
    (reset,) = [e for e in logs if e["event"] == "readmodel_reset"]
    assert reset["reason"] == "version_changed" and reset["built"] == "schema 0000, projection 0"
    assert sorted(r.dispute.location.street for r in page) == sorted(
        r.dispute.location.street for r in rs
    )


async def test_a_read_the_model_cannot_answer_in_time_is_unavailable(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    reads = await ReadModel.start(bus, settings_for(nats_server.url, data_dir=tmp_path), [DISPUTES])
    try:
        for follower in reads._followers.values():  # stalled, as if the database hung
            await follower.stop()
        (r,) = records(10, 1)
        await bus.disputes.put(r.id, stored(r))
        started = time.monotonic()
        with pytest.raises(Unavailable, match="查询库尚未跟上消息总线"):
            await reads.disputes(DisputeFilter(), 10, "", _now())
        assert 1.5 < time.monotonic() - started < 5
    finally:
        await reads.stop()


async def test_another_nats_server_s_stream_replaces_the_rows(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, data_dir=tmp_path / "db")
    for r in records(11, 5):
        await bus.disputes.put(r.id, stored(r))
    reads = await ReadModel.start(bus, settings, [DISPUTES])
    await reads.disputes(DisputeFilter(), 1, "", _now())
    await reads.stop()
    other = await EmbeddedNats.start(tmp_path / "other")
    try:
        second = await connect(other.url, "test")
        try:
            (r,) = records(12, 1)
            await second.disputes.put(r.id, stored(r))
            with capture_logs() as logs:
                reads = await ReadModel.start(second, settings, [DISPUTES])
                try:
                    page, _ = await reads.disputes(DisputeFilter(), 50, "", _now())
                finally:
                    await reads.stop()
        finally:
            await second.close()
    finally:
        await other.stop()
    assert [p.id for p in page] == [r.id]
    assert [e["reason"] for e in logs if e["event"] == "readmodel_reset"] == ["stream_replaced"]


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_read_cuts_short_the_wait_for_more_changes(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caught-up follower lets changes gather before writing them, but never while a
    read waits: with that wait far longer than a read may take, reads still succeed."""
    monkeypatch.setattr(follower_module, "LINGER_SECONDS", 3600.0)
    reads = await ReadModel.start(bus, settings_for(nats_server.url, data_dir=tmp_path), [DISPUTES])
    try:
        for n, r in enumerate(records(11, 3), start=1):
            await bus.disputes.put(r.id, stored(r))  # each a short batch, then a wait
            page, _ = await reads.disputes(DisputeFilter(), 10, "", _now())
            assert len(page) == n
    finally:
        await reads.stop()


async def test_a_follower_stops_even_when_its_cancellation_is_lost(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """Python 3.11's `wait_for` (inside nats-py's fetch) can drop a cancellation that meets
    an arriving message; the follower then fetched on forever and its service never
    stopped. The stop event alone ends its loop: here the task is never cancelled."""
    settings = settings_for(nats_server.url, data_dir=tmp_path)
    for r in records(10, 5):
        await bus.disputes.put(r.id, stored(r))
    reads = await ReadModel.start(bus, settings, [DISPUTES])
    try:
        await reads.disputes(DisputeFilter(), 10, "", _now())
        follower = reads._followers[DISPUTES.stream]
        task = follower._task
        assert task is not None and not task.done()
        follower._stopping.set()
        await asyncio.wait_for(asyncio.shield(task), 5)
        assert not task.cancelled()  # it returned on its own
    finally:
        await reads.stop()
