"""The stored history for `fengqiao rules replay`: the records of the disputes received in a
period, of one street if asked, read in received order off the read model's rows. Opened
without migrating: a replay writes nothing, not even a schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy.exc
from sqlalchemy import ColumnElement, Engine, inspect, select

from fengqiao.domain.errors import DatabaseError
from fengqiao.platform.settings import Settings
from fengqiao.readmodel.database import create, database_url
from fengqiao.readmodel.rows import micros
from fengqiao.readmodel.schema import disputes

# Rows fetched from the cursor at a time: memory stays flat over a year of a city.
_BATCH = 5000


def open_history(settings: Settings) -> Engine:
    """The configured read model, as it is; `DatabaseError` if it has no disputes table."""
    engine = create(database_url(settings.database_url, settings.data_dir))
    try:
        built = inspect(engine).has_table(disputes.name)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(f"无法打开查询库（cannot open the read model）: {exc}") from exc
    if not built:
        engine.dispose()
        raise DatabaseError(
            "查询库中没有纠纷记录表：请检查 FENGQIAO_DATABASE_URL / FENGQIAO_DATA_DIR 是否指向受理"
            "服务的查询库（no disputes table: point FENGQIAO_DATABASE_URL or FENGQIAO_DATA_DIR at "
            "intake's read model）"
        )
    return engine


def stored_records(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    street: str = "",
) -> Iterator[bytes]:
    """The stored bytes of each dispute received in [since, until) (and in `street`),
    oldest first: one index range (`disputes_received`, or the street's)."""
    t = disputes.c
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(t.received_us >= micros(since))
    if until is not None:
        where.append(t.received_us < micros(until))
    if street:
        where.append(t.street == street)
    query = select(t.record).where(*where).order_by(t.received_us, t.id)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(query)
        for (data,) in result:
            yield data
