"""Opening the read model's database: the engine for SQLite or PostgreSQL, the schema
brought up to date with Alembic, and the rows dropped when they were built by another
version (the followers then rebuild them from the bus).

SQLAlchemy's synchronous Core runs in worker threads (`asyncio.to_thread`): the drivers
are the standard library's sqlite3 and psycopg 3, Alembic needs a synchronous connection
anyway, and a batch of a thousand rows is one `executemany` either way, so an async
driver would add a thread hop per statement (aiosqlite) and a second code path without
saving any work.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, text
from sqlalchemy.engine import make_url

from fengqiao.domain.errors import DatabaseError
from fengqiao.platform.bus import KV_DISPUTES, KV_NOTIFICATIONS, STATUS_STREAM, kv_stream
from fengqiao.readmodel.schema import deliveries, disputes, meta, notifications, progress

log = structlog.get_logger()

# Raise when what a row holds changes without a schema change (a new derived column's
# meaning, a fix in how a figure is counted): every database then rebuilds itself.
PROJECTION_VERSION: Final = 1
SQLITE_FILE: Final = "readmodel.sqlite3"
_BUSY_TIMEOUT_MS: Final = 30_000
# Any constant: the key of PostgreSQL's advisory lock around migrations.
_MIGRATION_LOCK: Final = 0x66656E67


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "fengqiao.readmodel:migrations")
    return config


def schema_head() -> str:
    """The newest migration's revision."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_version() -> str:
    """What the rows are built with: the schema's revision and the projection's version."""
    return f"schema {schema_head()}, projection {PROJECTION_VERSION}"


def database_url(configured: str, data_dir: Path) -> str:
    """The SQLAlchemy URL for `FENGQIAO_DATABASE_URL` (empty: SQLite under `data_dir`)."""
    if not configured:
        return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if configured.startswith(prefix):
            return "postgresql+psycopg://" + configured.removeprefix(prefix)
    return configured


def create(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, and writers that take the lock first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(
            f"FENGQIAO_DATABASE_URL 只支持 sqlite:/// 或 postgresql://"
            f"（unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql）"
        )
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by `_sqlite_begin`, not by the driver's own guesswork.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the follower's writes. NORMAL: a power cut can lose the
    # last batches, never corrupt; the follower applies them again from the bus.
    # secure_delete: a row rewritten by the retention job leaves no old bytes behind.
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"busy_timeout={_BUSY_TIMEOUT_MS}",
        "secure_delete=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock when it begins, so its first read (the applied
    # sequence) cannot be overtaken by another writer before it writes.
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock (SQLite) from its start."""
    with engine.connect() as plain:
        connection = plain.execution_options(immediate=True)
        with connection.begin():
            yield connection


def migrate(engine: Engine) -> str | None:
    """Bring the schema to the newest migration and drop rows built by another version.
    Returns the version the rows were built with when they were dropped, else None.
    Several processes may start at once: one migrates, the others wait for it."""
    with _file_lock(engine), writing(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        built = connection.execute(select(meta.c.value).where(meta.c.name == "version")).scalar()
        version = current_version()
        if built == version:
            return None
        reset(connection)
        connection.execute(delete(meta))
        connection.execute(insert(meta).values(name="version", value=version))
        log.info("readmodel_reset", reason="version_changed", built=built, version=version)
        return built or ""


def reset(connection: Connection, stream: str | None = None) -> None:
    """Forget every row (of one stream's table), so it is rebuilt from the bus."""
    tables = {
        kv_stream(KV_DISPUTES): disputes,
        kv_stream(KV_NOTIFICATIONS): notifications,
        STATUS_STREAM: deliveries,
    }
    for name, table in tables.items():
        if stream in (None, name):
            connection.execute(delete(table))
    if stream is None:
        connection.execute(delete(progress))
    else:
        connection.execute(delete(progress).where(progress.c.stream == stream))


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """Serialise start-up of processes sharing one SQLite file (SQLite cannot lock a
    schema change against another process's `CREATE TABLE` otherwise)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with Path(f"{path}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def analyze(engine: Engine, table: str) -> None:
    """Let PostgreSQL's planner see a table's new size and values. After a rebuild of
    1,000,000 rows, with no statistics until autovacuum came round, it scanned the whole
    table for a street's figures (over 10 s a read) for nearly five minutes. (SQLite plans
    by its indexes without statistics, and its reads were fast from the start.)"""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql(f"ANALYZE {table}")
    log.info("readmodel_analyzed", table=table)
