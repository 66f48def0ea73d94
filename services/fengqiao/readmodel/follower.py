"""Following one stream (a KV bucket's, or a log like the delivery statuses) into the
database: fetch a batch, apply it in one transaction with the sequence it reaches, repeat.
A restart resumes after the stored sequence; from zero, of a bucket it reads only each
key's latest value.

Reads wait (`wait_applied`) until the rows include every write acknowledged before the
call, for at most `CATCH_UP_SECONDS`; then they fail with `Unavailable`, never scan the
bucket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Final

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine, insert, select

from fengqiao.domain.errors import Rewound, Unavailable
from fengqiao.readmodel import build
from fengqiao.readmodel.apply import (
    Batch,
    Change,
    Projection,
    applied_seq,
    apply_batch,
)
from fengqiao.readmodel.database import reset, writing
from fengqiao.readmodel.decoding import PROCESSES_FROM, Decoder
from fengqiao.readmodel.schema import progress

log = structlog.get_logger()

CATCH_UP_SECONDS: Final = 2.0
BATCH: Final = 1000
# How long a caught-up follower lets changes gather before it writes them, unless a read
# is waiting for them: reads that follow a write never wait for it.
LINGER_SECONDS: Final = 0.2
_IDLE_SECONDS: Final = 0.5
_RETRY_SECONDS: Final = 1.0
_CONSUMER_IDLE_SECONDS: Final = 30.0
_DB_POLL_SECONDS: Final = 0.1
_REMOVED: Final = ("DEL", "PURGE")


class Follower:
    def __init__(
        self,
        js: JetStreamContext,
        engine: Engine,
        projection: Projection,
        processes_from: int = PROCESSES_FROM,
    ) -> None:
        self._js = js
        self._engine = engine
        self._projection = projection
        self._stream = projection.stream
        self._prefix = projection.prefix
        self._created = ""
        # Everything up to here is in the database (applied by this process or another).
        self._position = 0
        self._advanced = asyncio.Condition()
        # Reads waiting for rows the follower has not written yet, and a signal when one
        # starts to: the follower then writes what it has at once.
        self._readers = 0
        self._reader_came = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wipe_pending = False
        self._resumed_after = 0
        # Loading without indexes (`build`): the position reached is held back from
        # readers until they are made.
        self._building = False
        self._built_seq = 0
        self._decoder = Decoder(projection, processes_from)

    @property
    def position(self) -> int:
        return self._position

    async def start(self) -> None:
        """Check the rows belong to this stream, then follow it in the background."""
        info = await self._js.stream_info(self._stream)
        self._created = info.created.isoformat() if info.created else ""
        self._position = await asyncio.to_thread(self._claim, info.state.last_seq)
        log.info("projection_started", stream=self._stream, applied_seq=self._position,
                 last_seq=info.state.last_seq)  # fmt: skip
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"follow-{self._stream}")

    async def stop(self) -> None:
        """End the follower: cancelled, and told by an event its loops check between
        fetches. (Cancellation alone was not enough: on Python 3.11 `asyncio.wait_for`,
        which nats-py's fetch uses, drops a cancellation that meets a message arriving in
        the same moment, and the follower fetched on with the service stopping.)"""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._decoder.use_thread()

    def _claim(self, last_seq: int) -> int:
        """The sequence applied so far; rows from another stream of this name are dropped."""
        with writing(self._engine) as connection:
            found = connection.execute(
                select(progress.c.applied_seq, progress.c.stream_created)
                .where(progress.c.stream == self._stream)
                .with_for_update()
            ).first()
            same = found is not None and found.stream_created == self._created
            if found is not None and same and found.applied_seq <= last_seq:
                return int(found.applied_seq)
            if found is not None:
                log.warning("readmodel_reset", reason="stream_replaced", stream=self._stream,
                            applied_seq=found.applied_seq, last_seq=last_seq)  # fmt: skip
            reset(connection, self._stream)
            connection.execute(
                insert(progress).values(
                    stream=self._stream, applied_seq=0, stream_created=self._created
                )
            )
            return 0

    async def wait_applied(self) -> None:
        """Return once the rows hold every write made to the bucket before this call."""
        try:
            last = (await self._js.stream_info(self._stream)).state.last_seq
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(
                f"消息总线暂时无法访问，请稍后重试（NATS did not answer: {exc!r}）"
            ) from exc
        if self._position >= last:
            return
        self._readers += 1
        self._reader_came.set()
        try:
            await self._until_applied(last, time.monotonic() + CATCH_UP_SECONDS)
        finally:
            self._readers -= 1

    async def _until_applied(self, last: int, deadline: float) -> None:
        while self._position < last:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("projection_behind", stream=self._stream,
                            applied_seq=self._position, last_seq=last)  # fmt: skip
                raise Unavailable(
                    f"查询库尚未跟上消息总线（已处理到第 {self._position} 条，需到第 {last} 条），"
                    f"请稍后重试（read model behind the bus: {self._position} of {last}; "
                    "retry shortly）"
                )
            try:
                async with asyncio.timeout(min(remaining, _DB_POLL_SECONDS)), self._advanced:
                    await self._advanced.wait_for(lambda: self._position >= last)
            except TimeoutError:
                if self._building:
                    continue
                # A replica sharing the database may have applied it already.
                stored = await asyncio.to_thread(applied_seq, self._engine, self._stream)
                await self._advance(stored)

    async def reach(self, seq: int) -> None:
        """Return once the rows hold everything up to stream sequence `seq` (unbounded)."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self._position >= seq)

    async def _advance(self, seq: int) -> None:
        if seq > self._position:
            async with self._advanced:
                self._position = seq
                self._advanced.notify_all()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            sub: JetStreamContext.PullSubscription | None = None
            try:
                sub = await self._subscribe()
                await self._follow(sub)
            except asyncio.CancelledError:
                raise
            except Rewound:
                continue  # subscribe again from what the database holds
            except Exception as exc:  # the bus or the database is away: start again from
                # what the database holds, once it answers
                log.warning("projection_failed", stream=self._stream, error=repr(exc),
                            applied_seq=self._position)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), _RETRY_SECONDS)
            finally:
                if sub is not None:
                    try:
                        await sub.unsubscribe()
                    except Exception:  # the consumer expires on its own
                        log.debug("projection_unsubscribe_failed", stream=self._stream)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        start = await asyncio.to_thread(applied_seq, self._engine, self._stream)
        self._resumed_after = start
        if start < self._position:
            log.warning("readmodel_rewound", stream=self._stream, applied_seq=start,
                        was=self._position)  # fmt: skip
            async with self._advanced:
                self._position = start
        self._building = await asyncio.to_thread(
            build.begin, self._engine, self._projection.table, start == 0
        )
        self._built_seq = start
        if not self._building:
            await self._advance(start)
        if start == 0:
            # From zero, of a bucket only the latest value of each key matters.
            latest = self._projection.latest_only
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if latest else DeliverPolicy.ALL
            )
        else:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start + 1
            )
        config.ack_policy = AckPolicy.NONE
        config.inactive_threshold = _CONSUMER_IDLE_SECONDS
        config.mem_storage = True
        sub = await self._js.pull_subscribe(
            self._projection.subject, stream=self._stream, config=config
        )
        if self._building:
            self._decoder.use_processes(behind=(await sub.consumer_info()).num_pending or 0)
        return sub

    async def _follow(self, sub: JetStreamContext.PullSubscription) -> None:
        # Three stages overlap: while one batch is written (SQLite in C, PostgreSQL in its
        # server, neither holding the GIL), the next ones are fetched and decoded.
        decoding: deque[asyncio.Future[Batch]] = deque()
        writing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await sub.fetch(BATCH, timeout=_IDLE_SECONDS)
                except (nats.errors.TimeoutError, TimeoutError):
                    msgs = []
                if msgs:
                    decoding.append(self._decoder.prepare([self._change(m) for m in msgs]))
                # Each message says how many are still pending after it: a short batch
                # alone only means the server had no more ready at that moment.
                caught_up = not msgs or msgs[-1].metadata.num_pending == 0
                # Batches are written in stream order, each as soon as it is decoded.
                while decoding and (
                    caught_up or decoding[0].done() or len(decoding) > self._decoder.depth
                ):
                    batch = await decoding.popleft()
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(self._apply(batch))
                if not caught_up:
                    continue
                if writing is not None:
                    await writing
                    writing = None
                await self._finish_build()
                if msgs:
                    await self._linger()
                else:
                    await self._idle(sub)
        finally:
            for pending in (*decoding, writing):
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pending

    async def _finish_build(self) -> None:
        """Caught up while building: make the indexes, then let readers in."""
        if not self._building:
            return
        await asyncio.to_thread(build.finish, self._engine, self._projection.table)
        self._building = False
        self._decoder.use_thread()
        await self._advance(self._built_seq)

    async def _linger(self) -> None:
        """Caught up: let the next batch fill for a moment, unless a read is waiting.
        Under a steady trickle each revision would otherwise be its own transaction (at
        100 disputes/s that cost intake and nats-server more than the disputes
        themselves)."""
        if self._readers:
            return
        self._reader_came.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_SECONDS):
                await self._reader_came.wait()

    async def _apply(self, batch: Batch) -> None:
        started = time.perf_counter()
        outcome = await asyncio.to_thread(
            apply_batch, self._engine, self._projection, self._created, batch,
            self._resumed_after,
        )  # fmt: skip
        self._wipe_pending = self._wipe_pending or outcome.scrubbed
        if self._wipe_pending:
            self._wipe_pending = not await asyncio.to_thread(self._wipe)
        log.debug("projection_applied", stream=self._stream, written=outcome.written,
                  applied_seq=outcome.applied_seq,
                  ms=round((time.perf_counter() - started) * 1000, 1))  # fmt: skip
        if self._building:
            self._built_seq = outcome.applied_seq
        else:
            await self._advance(outcome.applied_seq)

    async def _idle(self, sub: JetStreamContext.PullSubscription) -> None:
        """Nothing to fetch: if the stream's last messages were purged, the rows are still
        current up to its last sequence."""
        if self._wipe_pending:
            self._wipe_pending = not await asyncio.to_thread(self._wipe)
        last = (await self._js.stream_info(self._stream)).state.last_seq
        if last <= self._position:
            return
        consumer = await sub.consumer_info()
        # Nothing left to deliver, and nothing delivered that is not applied yet (a message
        # can still sit in this client's queue after a fetch gave up waiting for it).
        delivered = consumer.delivered.stream_seq if consumer.delivered else 0
        if consumer.num_pending == 0 and (delivered or 0) <= self._position:
            await self._advance(last)

    def _change(self, msg: Msg) -> Change:
        removed = (msg.headers or {}).get("KV-Operation") in _REMOVED
        return Change(
            msg.subject.removeprefix(self._prefix),
            msg.metadata.sequence.stream,
            None if removed or not msg.data else msg.data,
        )

    def _wipe(self) -> bool:
        """SQLite: empty the write-ahead log, whose older frames may still hold a person's
        data that the last batch removed from the rows. False if readers kept it busy."""
        if self._engine.dialect.name != "sqlite":
            return True
        with self._engine.connect() as connection:
            busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        wiped = busy is None or busy[0] == 0
        if wiped:
            log.info("readmodel_wal_wiped", stream=self._stream)
        return wiped
