"""The read model a service queries: its database, and a follower per stream it reads.
Every read first waits until the rows hold the writes made before it (read your writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy.exc
import structlog
from sqlalchemy import Engine

from fengqiao.domain import epoch
from fengqiao.domain.errors import DatabaseError, Unavailable
from fengqiao.domain.model import DisputeRecord, Notification
from fengqiao.domain.stats import Stats
from fengqiao.platform.bus import Bus
from fengqiao.platform.settings import Settings
from fengqiao.readmodel import queries
from fengqiao.readmodel.apply import DELIVERIES, DISPUTES, NOTIFICATIONS, Projection
from fengqiao.readmodel.database import create, database_url, migrate
from fengqiao.readmodel.follower import Follower

log = structlog.get_logger()
T = TypeVar("T")
DAY_US = 24 * 3600 * 1_000_000


async def open_engine(settings: Settings) -> Engine:
    """The configured database, its schema current; `DatabaseError` saying what to check."""
    url = database_url(settings.database_url, settings.data_dir)
    engine = create(url)
    try:
        await asyncio.to_thread(migrate, engine)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(
            f"无法打开查询库（cannot open the read model's database "
            f"{engine.url.render_as_string(hide_password=True)}）: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}. Check FENGQIAO_DATABASE_URL (empty: SQLite under "
            "FENGQIAO_DATA_DIR) and that the server is up."
        ) from exc
    return engine


@dataclass
class ReadModel:
    engine: Engine
    _followers: dict[str, Follower]

    @classmethod
    async def start(
        cls, bus: Bus, settings: Settings, projections: Sequence[Projection]
    ) -> ReadModel:
        engine = await open_engine(settings)
        followers: dict[str, Follower] = {}
        try:
            for projection in projections:
                follower = Follower(bus.js, engine, projection)
                await follower.start()
                followers[projection.stream] = follower
        except BaseException:
            for follower in followers.values():
                await follower.stop()
            engine.dispose()
            raise
        return cls(engine, followers)

    async def stop(self) -> None:
        for follower in self._followers.values():
            await follower.stop()
        self.engine.dispose()

    async def stats(
        self,
        *,
        street: str,
        community: str,
        since: datetime | None,
        until: datetime | None,
        now: datetime,
    ) -> Stats:
        def run() -> Stats:
            return queries.stats(
                self.engine, street=street, community=community, since=since, until=until,
                now=now,
            )  # fmt: skip

        return await self._read(run, DISPUTES)

    async def disputes(
        self, which: queries.DisputeFilter, page_size: int, page_token: str, now: datetime
    ) -> tuple[list[DisputeRecord], str]:
        return await self._read(
            lambda: queries.dispute_page(self.engine, which, page_size, page_token, now), DISPUTES
        )

    async def board(
        self, street: str, community: str, limit: int, now: datetime
    ) -> tuple[list[queries.ColourCount], list[DisputeRecord], list[DisputeRecord]]:
        """Counts by place and colour, the overdue list and what falls due within a day."""
        now_us = epoch.micros(now)

        def run() -> tuple[list[queries.ColourCount], list[DisputeRecord], list[DisputeRecord]]:
            counts = queries.colour_counts(self.engine, street, community)
            overdue = queries.open_by_deadline(
                self.engine, street, community, after_us=None, before_us=now_us, limit=limit
            )
            due = queries.open_by_deadline(
                self.engine, street, community, after_us=now_us,
                before_us=now_us + DAY_US, limit=limit,
            )  # fmt: skip
            return counts, overdue, due

        return await self._read(run, DISPUTES)

    async def received_waiting(
        self, after: tuple[int, str] | None, until_us: int, limit: int
    ) -> list[tuple[int, str]]:
        """Disputes still `received` in a range of received times (`queries.received_waiting`),
        once the rows hold every write made before the call."""
        return await self._read(
            lambda: queries.received_waiting(self.engine, after, until_us, limit), DISPUTES
        )

    async def notifications(
        self, dispute_id: str, recipient_id: str, page_size: int, page_token: str
    ) -> tuple[list[Notification], str]:
        return await self._read(
            lambda: queries.notification_page(
                self.engine, dispute_id, recipient_id, page_size, page_token
            ),
            NOTIFICATIONS,
            DELIVERIES,
        )

    async def _read(self, query: Callable[[], T], *projections: Projection) -> T:
        await asyncio.gather(*(self._followers[p.stream].wait_applied() for p in projections))
        try:
            return await asyncio.to_thread(query)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
            log.warning("readmodel_unavailable", error=repr(exc))
            raise Unavailable(
                "查询库暂时无法访问，请稍后重试（the read model's database did not answer; "
                "retry shortly）"
            ) from exc
