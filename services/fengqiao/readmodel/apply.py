"""Applying one fetched batch of a stream to the database: every row and the stream
sequence reached, in one transaction. The sequence stored with the rows makes a batch that
another writer (a replica sharing PostgreSQL) already applied a no-op, and lets a restart
resume after it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from fengqiao.domain.errors import Rewound
from fengqiao.platform.bus import (
    KV_DISPUTES,
    KV_NOTIFICATIONS,
    STATUS,
    STATUS_STREAM,
    kv_stream,
    kv_subject,
)
from fengqiao.readmodel.database import writing
from fengqiao.readmodel.rows import Row, delivery_rows, dispute_row, notification_row
from fengqiao.readmodel.schema import deliveries, disputes, notifications, progress

log = structlog.get_logger()

DISPUTES_STREAM: Final = kv_stream(KV_DISPUTES)
NOTIFICATIONS_STREAM: Final = kv_stream(KV_NOTIFICATIONS)


@dataclass(frozen=True, slots=True)
class Change:
    """One message of a stream: of a KV bucket's, a key's new value, or None when it was
    deleted."""

    key: str
    seq: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class Written:
    rows: list[Row]
    # Old bytes of a person's data may now sit in freed pages or the WAL: wipe them.
    scrubbed: bool


@dataclass(frozen=True, slots=True)
class Projection:
    """What one stream becomes: its table, and how its messages become rows."""

    stream: str
    subject: str  # what of the stream is followed
    prefix: str  # taken off a message's subject, it leaves the change's key
    table: Table
    rows: Callable[[Sequence[Change]], Written]
    # Columns a key's later revisions never change: a rewrite leaves them, and the indexes
    # made of them alone, untouched.
    fixed: frozenset[str] = frozenset()
    # Whether decoding a value costs enough to hand a large build to worker processes.
    costly: bool = False
    # A KV bucket's: only each key's newest value matters (read from zero, or within a
    # batch). Otherwise every message counts.
    latest_only: bool = True


def _bucket(bucket: str) -> tuple[str, str, str]:
    """The stream, subjects and key prefix of KV bucket `bucket`."""
    return kv_stream(bucket), kv_subject(bucket), kv_subject(bucket, "")


def _dispute_rows(changes: Sequence[Change]) -> Written:
    rows, scrubbed = [], False
    for change in changes:
        assert change.data is not None
        try:
            row, anonymised = dispute_row(change.key, change.seq, change.data)
        except Exception:  # one bad value must not stop the projection
            log.exception("projection_value_unreadable", stream=DISPUTES_STREAM, key=change.key)
            continue
        rows.append(row)
        scrubbed = scrubbed or anonymised
    return Written(rows, scrubbed)


def _notification_rows(changes: Sequence[Change]) -> Written:
    # A notification's row is rewritten when it is acknowledged and when it is anonymised;
    # old bytes are wiped only after a batch with an anonymised one.
    rows, scrubbed = [], False
    for change in changes:
        try:
            row, anonymised = notification_row(change.key, change.seq, change.data or b"")
        except Exception:  # one bad value must not stop the projection
            log.exception("projection_value_unreadable", stream=NOTIFICATIONS_STREAM,
                          key=change.key)  # fmt: skip
            continue
        rows.append(row)
        scrubbed = scrubbed or anonymised
    return Written(rows, scrubbed)


def _delivery_rows(changes: Sequence[Change]) -> Written:
    rows = []
    for change in changes:
        try:
            rows.extend(delivery_rows(change.seq, change.data or b""))
        except Exception:  # one bad message must not stop the projection
            log.exception("projection_value_unreadable", stream=STATUS_STREAM, seq=change.seq)
    return Written(rows, scrubbed=False)


DISPUTES: Final = Projection(
    *_bucket(KV_DISPUTES), disputes, _dispute_rows,
    # Where and when a dispute was received, and what kind it is, stay as submitted
    # (anonymising keeps the place down to the grid, and the category).
    fixed=frozenset({"received_us", "district", "street", "community", "grid", "category"}),
    costly=True,
)  # fmt: skip
NOTIFICATIONS: Final = Projection(
    *_bucket(KV_NOTIFICATIONS), notifications, _notification_rows,
    fixed=frozenset({"dispute_id", "recipient_id", "created_us"}),
)  # fmt: skip
DELIVERIES: Final = Projection(
    STATUS_STREAM, STATUS, STATUS, deliveries, _delivery_rows, latest_only=False
)


@dataclass(frozen=True, slots=True)
class Outcome:
    applied_seq: int  # the database's, after this batch
    written: int  # rows written or deleted by this batch; 0 when already applied
    scrubbed: bool


def applied_seq(engine: Engine, stream: str) -> int:
    with engine.connect() as connection:
        found = connection.execute(
            select(progress.c.applied_seq).where(progress.c.stream == stream)
        ).scalar()
    return int(found or 0)


@dataclass(frozen=True, slots=True)
class Batch:
    """Fetched changes made ready to write: decoded away from the write lock (and while
    the previous batch is being written), so the lock is held for the writes alone."""

    rows: list[Row]  # each key's newest value in the batch
    removed: list[Change]  # each key's deletion, when that is its newest change
    scrubbed: bool
    last_seq: int


def prepare(projection: Projection, changes: Sequence[Change]) -> Batch:
    """`changes` (in stream order) as rows to write and keys to delete."""
    kept: Sequence[Change] = changes
    if projection.latest_only:
        kept = list({change.key: change for change in changes}.values())
    written = projection.rows([c for c in kept if c.data is not None])
    removed = [c for c in kept if c.data is None]
    return Batch(written.rows, removed, written.scrubbed, changes[-1].seq if changes else 0)


def apply_batch(
    engine: Engine, projection: Projection, created: str, batch: Batch, resumed_after: int
) -> Outcome:
    """Write `batch` (read after sequence `resumed_after`) past what the database has
    applied, with the sequence it reaches."""
    with writing(engine) as connection:
        locked = connection.execute(
            select(progress.c.applied_seq)
            .where(progress.c.stream == projection.stream)
            .with_for_update()
        ).scalar()
        if locked is None:  # reset meanwhile (`fengqiao readmodel rebuild`)
            connection.execute(
                insert(progress).values(
                    stream=projection.stream, applied_seq=0, stream_created=created
                )
            )
        done = int(locked or 0)
        if done < resumed_after:
            # Reset meanwhile: these changes alone would skip everything before them.
            raise Rewound(f"{projection.stream}: database at {done}, follower at {resumed_after}")
        if done >= batch.last_seq:
            return Outcome(done, 0, scrubbed=False)
        # Another writer (a replica sharing PostgreSQL) may have applied part of the batch:
        # what it wrote stays, and a key it deleted is not brought back.
        rows = [r for r in batch.rows if r["seq"] > done]
        removed = [c for c in batch.removed if c.seq > done]
        scrubbed = batch.scrubbed or bool(removed)
        table = projection.table
        if rows:
            _upsert(connection, table, rows, projection.fixed)
        if removed:
            connection.execute(
                delete(table).where(
                    table.c.id == bindparam("key"), table.c.seq < bindparam("until")
                ),
                [{"key": c.key, "until": c.seq} for c in removed],
            )
        connection.execute(
            update(progress)
            .where(progress.c.stream == projection.stream)
            .values(applied_seq=batch.last_seq)
        )
    return Outcome(batch.last_seq, len(rows) + len(removed), scrubbed)


def _upsert(connection: Connection, table: Table, rows: list[Row], fixed: frozenset[str]) -> None:
    # The rows go to the driver's executemany as they are: SQLAlchemy's per-row parameter
    # processing cost more than SQLite's own work on a rebuild.
    statement = _upsert_sql(connection.dialect.name, table, tuple(rows[0]), fixed)
    connection.exec_driver_sql(statement, rows)


@cache
def _upsert_sql(dialect: str, table: Table, columns: tuple[str, ...], fixed: frozenset[str]) -> str:
    """Insert, or update a row to a newer revision: the statement in the driver's own
    named-parameter style (the same on every call for a table)."""
    upsert: postgresql.Insert | sqlite.Insert
    compiler: Dialect
    if dialect == "postgresql":
        upsert, compiler = postgresql.insert(table), postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    else:
        upsert, compiler = sqlite.insert(table), sqlite.dialect(paramstyle="named")
    statement = upsert.values({name: bindparam(name) for name in columns}).on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: upsert.excluded[name] for name in columns if name not in fixed | {"id"}},
        where=upsert.excluded.seq > table.c.seq,
    )
    return str(statement.compile(dialect=compiler))
