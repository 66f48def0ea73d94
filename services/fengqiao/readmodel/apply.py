"""Applying one fetched batch of a KV stream to the database: every row and the stream
sequence reached, in one transaction. The sequence stored with the rows makes a batch that
another writer (a replica sharing PostgreSQL) already applied a no-op, and lets a restart
resume after it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from fengqiao.domain.anonymise import is_anonymised
from fengqiao.platform.bus import KV_DISPUTES, KV_NOTIFICATIONS
from fengqiao.readmodel.database import writing
from fengqiao.readmodel.rows import Row, dispute_row, notification_row
from fengqiao.readmodel.schema import disputes, notifications, progress

log = structlog.get_logger()

DISPUTES_STREAM: Final = f"KV_{KV_DISPUTES}"
NOTIFICATIONS_STREAM: Final = f"KV_{KV_NOTIFICATIONS}"


@dataclass(frozen=True, slots=True)
class Change:
    """One message of a KV stream: a key's new value, or None when it was deleted."""

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
    """What one KV bucket becomes: its stream, its table, and how a value becomes a row."""

    stream: str
    bucket: str
    table: Table
    rows: Callable[[Sequence[Change]], Written]
    # Whether rewriting an existing row may have removed a person's data from it.
    rewrite_scrubs: bool = False
    # Columns a key's later revisions never change: a rewrite leaves them, and the indexes
    # made of them alone, untouched.
    fixed: frozenset[str] = frozenset()


def _dispute_rows(changes: Sequence[Change]) -> Written:
    rows, scrubbed = [], False
    for change in changes:
        assert change.data is not None
        try:
            row, record = dispute_row(change.key, change.seq, change.data)
        except Exception:  # one bad value must not stop the projection
            log.exception("projection_value_unreadable", stream=DISPUTES_STREAM, key=change.key)
            continue
        rows.append(row)
        scrubbed = scrubbed or is_anonymised(record)
    return Written(rows, scrubbed)


def _notification_rows(changes: Sequence[Change]) -> Written:
    # A notification is rewritten only when acknowledged or anonymised: rare enough to
    # wipe old bytes after every batch that rewrites one (`rewrite_scrubs`).
    rows = []
    for change in changes:
        try:
            rows.append(notification_row(change.key, change.seq, change.data or b""))
        except Exception:  # one bad value must not stop the projection
            log.exception("projection_value_unreadable", stream=NOTIFICATIONS_STREAM,
                          key=change.key)  # fmt: skip
    return Written(rows, False)


DISPUTES: Final = Projection(
    DISPUTES_STREAM, "disputes", disputes, _dispute_rows,
    # Where and when a dispute was received, and what kind it is, stay as submitted
    # (anonymising keeps the place down to the grid, and the category).
    fixed=frozenset({"received_us", "district", "street", "community", "grid", "category"}),
)  # fmt: skip
NOTIFICATIONS: Final = Projection(
    NOTIFICATIONS_STREAM, "notifications", notifications, _notification_rows,
    rewrite_scrubs=True, fixed=frozenset({"dispute_id", "recipient_id", "created_us"}),
)  # fmt: skip


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


class Rewound(Exception):
    """The database holds less than the follower resumed after (it was reset by a rebuild):
    the follower must start again from what the database holds."""


def apply_batch(
    engine: Engine,
    projection: Projection,
    created: str,
    changes: Sequence[Change],
    resumed_after: int,
) -> Outcome:
    """Apply `changes` (in stream order, read after sequence `resumed_after`) past what the
    database has applied."""
    already = applied_seq(engine, projection.stream)
    if already < resumed_after:
        raise Rewound(f"{projection.stream}: database at {already}, follower at {resumed_after}")
    latest = _latest(changes, already)
    if not latest:
        return Outcome(already, 0, scrubbed=False)
    # Decode before taking the write lock: the lock is held for the writes alone.
    written = projection.rows([c for c in latest.values() if c.data is not None])
    removed = [c for c in latest.values() if c.data is None]
    last = changes[-1].seq
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
        if done >= last:
            return Outcome(done, 0, scrubbed=False)
        scrubbed = written.scrubbed or bool(removed)
        if projection.rewrite_scrubs and written.rows and not scrubbed:
            table = projection.table
            scrubbed = bool(
                connection.execute(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.id.in_([r["id"] for r in written.rows]))
                ).scalar()
            )
        # Another writer may have applied part of the batch meanwhile: the per-row sequence
        # keeps each row at its newest revision whoever writes last.
        if written.rows:
            _upsert(connection, projection.table, written.rows, projection.fixed)
        if removed:
            table = projection.table
            connection.execute(
                delete(table).where(
                    table.c.id == bindparam("key"), table.c.seq < bindparam("until")
                ),
                [{"key": c.key, "until": c.seq} for c in removed],
            )
        connection.execute(
            update(progress).where(progress.c.stream == projection.stream).values(applied_seq=last)
        )
    return Outcome(last, len(written.rows) + len(removed), scrubbed)


def _latest(changes: Sequence[Change], after: int) -> dict[str, Change]:
    """The last change of each key past sequence `after`."""
    latest: dict[str, Change] = {}
    for change in changes:
        if change.seq > after:
            latest[change.key] = change
    return latest


def _upsert(connection: Connection, table: Table, rows: list[Row], fixed: frozenset[str]) -> None:
    dialect = connection.dialect.name
    upsert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    columns = {name: upsert.excluded[name] for name in rows[0] if name not in fixed | {"id"}}
    statement = upsert.on_conflict_do_update(
        index_elements=[table.c.id], set_=columns, where=upsert.excluded.seq > table.c.seq
    )
    connection.execute(statement, rows)
