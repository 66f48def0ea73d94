"""The SQL reads against their in-memory definitions, over the same records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from fengqiao.domain import epoch
from fengqiao.domain.model import DisputeRecord, Status
from fengqiao.domain.stats import compute_stats
from fengqiao.readmodel.apply import DISPUTES, Change, apply_batch, prepare
from fengqiao.readmodel.database import create, database_url, migrate
from fengqiao.readmodel.queries import (
    DisputeFilter,
    colour_counts,
    dispute_page,
    open_by_deadline,
    stats,
)
from tests.readmodel.records import STREETS, records, stored

NOW = datetime(2026, 8, 1, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create(database_url("", tmp_path))
    migrate(engine)
    yield engine
    engine.dispose()


def load(engine: Engine, rs: list[DisputeRecord], first_seq: int = 1) -> int:
    changes = [Change(r.id, first_seq + i, stored(r)) for i, r in enumerate(rs)]
    apply_batch(engine, DISPUTES, "test", prepare(DISPUTES, changes), 0)
    return first_seq + len(rs)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    street=st.sampled_from(("", *STREETS[:3])),
    community=st.sampled_from(("", "一社区")),
    since=st.one_of(st.none(), st.datetimes(datetime(2026, 1, 1), datetime(2026, 6, 1))),
    days=st.one_of(st.none(), st.integers(1, 200)),
)
def test_figures_in_sql_are_compute_stats(  # noqa: PLR0917  # hypothesis passes by name
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    street: str,
    community: str,
    since: datetime | None,
    days: int | None,
) -> None:
    engine = create(database_url("", tmp_path_factory.mktemp("db")))
    try:
        migrate(engine)
        rs = records(seed, 150)
        load(engine, rs)
        start = since.replace(tzinfo=UTC) if since else None
        until = start + timedelta(days=days) if start and days else None
        for now in (NOW, None):
            in_sql = stats(
                engine, street=street, community=community, since=start, until=until, now=now
            )
            in_memory = compute_stats(
                rs, street=street, community=community, since=start, until=until, now=now
            )
            assert in_sql == in_memory
    finally:
        engine.dispose()


def test_a_dispute_row_keeps_its_newest_revision(engine: Engine) -> None:
    (r,) = records(1, 1)
    closed = replace(r, status=Status.WITHDRAWN)
    apply_batch(engine, DISPUTES, "test", prepare(DISPUTES, [Change(r.id, 5, stored(closed))]), 0)
    apply_batch(
        engine, DISPUTES, "test", prepare(DISPUTES, [Change(r.id, 3, stored(r))]), 0
    )  # older: ignored
    page, _ = dispute_page(engine, DisputeFilter(), 10, "", NOW)
    assert [p.status for p in page] == [Status.WITHDRAWN]


def test_pages_are_newest_first_and_stable_while_disputes_arrive(engine: Engine) -> None:
    first = records(2, 120)
    seq = load(engine, first)
    page1, token = dispute_page(engine, DisputeFilter(), 50, "", NOW)
    newer = records(3, 30, start=datetime(2027, 1, 1, tzinfo=UTC))
    load(engine, newer, seq)
    seen = list(page1)
    while token:
        page, token = dispute_page(engine, DisputeFilter(), 50, token, NOW)
        seen += page
    expected = sorted(first, key=lambda r: (r.dispute.received_at, r.id), reverse=True)
    assert [r.id for r in seen] == [r.id for r in expected]


def test_filters_match_the_records_they_name(engine: Engine) -> None:
    rs = records(4, 200)
    load(engine, rs)
    street = STREETS[0]
    which = DisputeFilter(street=street, status=Status.IN_MEDIATION)
    page, _ = dispute_page(engine, which, 500, "", NOW)
    expected = {r.id for r in rs if r.dispute.location.street == street
                and r.status is Status.IN_MEDIATION}  # fmt: skip
    assert {r.id for r in page} == expected and expected
    overdue, _ = dispute_page(engine, DisputeFilter(overdue=True), 500, "", NOW)
    assert {r.id for r in overdue} == {r.id for r in rs if r.overdue(NOW)}


def test_postgresql_gives_the_same_figures_and_pages(postgres_url: str, engine: Engine) -> None:
    pg = create(database_url(postgres_url, Path()))
    try:
        migrate(pg)
        rs = records(5, 300)
        for db in (pg, engine):
            load(db, rs)
        since = datetime(2026, 3, 1, tzinfo=UTC)
        for street in ("", STREETS[1]):
            assert stats(pg, street=street, since=since, now=NOW) == stats(
                engine, street=street, since=since, now=NOW
            )
        token_pg = token_lite = ""
        for _ in range(3):
            page_pg, token_pg = dispute_page(pg, DisputeFilter(), 40, token_pg, NOW)
            page_lite, token_lite = dispute_page(engine, DisputeFilter(), 40, token_lite, NOW)
            assert [r.id for r in page_pg] == [r.id for r in page_lite]
    finally:
        pg.dispose()


def test_board_counts_every_dispute_once_by_place_and_colour(engine: Engine) -> None:
    rs = records(11, 300)
    load(engine, rs)
    counts = colour_counts(engine, "", "")
    expected = Counter(
        (r.dispute.location.street, r.dispute.location.community, r.status.colour) for r in rs
    )
    assert {(c.street, c.community, c.colour): c.count for c in counts} == expected
    street = STREETS[1]
    assert sum(c.count for c in colour_counts(engine, street, "")) == sum(
        1 for r in rs if r.dispute.location.street == street
    )


def test_overdue_and_due_soon_are_open_disputes_in_deadline_order(engine: Engine) -> None:
    rs = records(12, 300)
    load(engine, rs)
    now_us = epoch.micros(NOW)
    overdue = open_by_deadline(engine, "", "", after_us=None, before_us=now_us, limit=500)
    assert [r.id for r in overdue] == [
        r.id for r in sorted((r for r in rs if r.overdue(NOW)), key=_deadline_then_id)
    ]
    assert overdue, "the sample holds overdue disputes"
    week = NOW + timedelta(days=7)
    soon = open_by_deadline(
        engine, "", "", after_us=now_us, before_us=epoch.micros(week), limit=500
    )
    assert all(not r.status.closed and NOW <= _deadline(r) < week for r in soon)
    assert {r.id for r in soon} == {
        r.id for r in rs if not r.status.closed and r.decision and NOW <= _deadline(r) < week
    }
    assert [_deadline(r) for r in soon] == sorted(_deadline(r) for r in soon)
    first = open_by_deadline(engine, "", "", after_us=None, before_us=now_us, limit=3)
    assert [r.id for r in first] == [r.id for r in overdue[:3]]


def test_disputes_are_filtered_by_category(engine: Engine) -> None:
    rs = records(13, 200)
    load(engine, rs)
    category = rs[0].dispute.category
    page, _ = dispute_page(engine, DisputeFilter(category=category), 500, "", NOW)
    assert {r.id for r in page} == {r.id for r in rs if r.dispute.category == category}
    assert len(page) < len(rs)


def _deadline(r: DisputeRecord) -> datetime:
    assert r.decision is not None
    return r.decision.deadline


def _deadline_then_id(r: DisputeRecord) -> tuple[datetime, str]:
    return _deadline(r), r.id
