"""`fengqiao readmodel rebuild | status`: build the read model again from the bus, or say
how far it has come."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, func, select

from fengqiao.platform.bus import Bus
from fengqiao.readmodel.apply import DELIVERIES, DISPUTES, NOTIFICATIONS, Projection
from fengqiao.readmodel.database import reset, writing
from fengqiao.readmodel.decoding import PROCESSES_FROM
from fengqiao.readmodel.follower import Follower
from fengqiao.readmodel.schema import meta, progress

log = structlog.get_logger()
PROJECTIONS = (DISPUTES, NOTIFICATIONS, DELIVERIES)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    stream: str
    rows: int
    seconds: float


async def rebuild(bus: Bus, engine: Engine, processes_from: int = PROCESSES_FROM) -> list[Rebuilt]:
    """Drop every row and apply each stream up to its last message now.
    Services following the same database start again from zero by themselves."""
    with writing(engine) as connection:
        reset(connection)
    done = []
    for projection in PROJECTIONS:
        started = time.perf_counter()
        last = (await bus.js.stream_info(projection.stream)).state.last_seq
        follower = Follower(bus.js, engine, projection, processes_from)
        await follower.start()
        try:
            await follower.reach(last)
        finally:
            await follower.stop()
        rows = _count(engine, projection)
        seconds = time.perf_counter() - started
        rate = round(rows / max(seconds, 1e-9))
        log.info("readmodel_rebuilt", stream=projection.stream, rows=rows,
                 seconds=round(seconds, 2), per_second=rate)  # fmt: skip
        done.append(Rebuilt(projection.stream, rows, seconds))
    return done


@dataclass(frozen=True, slots=True)
class Status:
    stream: str
    applied_seq: int
    last_seq: int
    rows: int


async def status(bus: Bus, engine: Engine) -> tuple[str, list[Status]]:
    """The version the rows were built with, and each stream's progress."""
    with engine.connect() as connection:
        version = connection.execute(select(meta.c.value).where(meta.c.name == "version"))
        built = str(version.scalar() or "")
        applied = dict(connection.execute(select(progress.c.stream, progress.c.applied_seq)).all())
    found = []
    for projection in PROJECTIONS:
        last = (await bus.js.stream_info(projection.stream)).state.last_seq
        found.append(
            Status(projection.stream, int(applied.get(projection.stream, 0)), last,
                   _count(engine, projection))
        )  # fmt: skip
    return built, found


def _count(engine: Engine, projection: Projection) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(projection.table)).scalar() or 0
        )
