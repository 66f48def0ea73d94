"""Where a follower decodes fetched changes into rows (`apply.prepare`): a thread while
it follows, worker processes while it builds a large table from zero.

Decoding a dispute record and counting its figures is pure Python, ~70 µs a record,
and held the GIL for most of a rebuild while the database's work waited behind it. In
worker processes it runs beside the fetching and the writing; for the few changes of
a follower that has caught up, a process hop would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Final

import structlog

from fengqiao.readmodel.apply import (
    DELIVERIES,
    DISPUTES,
    NOTIFICATIONS,
    Batch,
    Change,
    Projection,
    prepare,
)

log = structlog.get_logger()

# Behind by at least this many messages when building: worker processes are worth
# starting (a second or so to import) for it.
PROCESSES_FROM: Final = 50_000
_BY_STREAM: Final = {p.stream: p for p in (DISPUTES, NOTIFICATIONS, DELIVERIES)}


def _prepare_in_worker(stream: str, changes: Sequence[Change]) -> Batch:
    # A Projection holds SQLAlchemy tables: the worker looks its own copy up by name.
    return prepare(_BY_STREAM[stream], changes)


class Decoder:
    def __init__(self, projection: Projection, processes_from: int = PROCESSES_FROM) -> None:
        self._projection = projection
        self._processes_from = processes_from
        self._processes: ProcessPoolExecutor | None = None
        self._workers = 0

    @property
    def depth(self) -> int:
        """How many batches to keep decoding at once: enough to keep every worker busy
        while the oldest is written."""
        return 2 * self._workers if self._processes is not None else 1

    def prepare(self, changes: Sequence[Change]) -> asyncio.Future[Batch]:
        loop = asyncio.get_running_loop()
        if self._processes is None:
            return loop.run_in_executor(None, prepare, self._projection, changes)
        stream = self._projection.stream
        return loop.run_in_executor(self._processes, _prepare_in_worker, stream, changes)

    def use_processes(self, behind: int) -> None:
        """Decode in worker processes from now on, if `behind` is worth it."""
        costly = self._projection.costly and behind >= self._processes_from
        if self._processes is not None or not costly:
            return
        self._workers = max(1, os.cpu_count() or 1)
        # Spawned, not forked: the service's gRPC and NATS threads do not survive a fork.
        self._processes = ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn")
        )
        log.info("projection_decoding_in_processes", stream=self._projection.stream,
                 workers=self._workers, behind=behind)  # fmt: skip

    def use_thread(self) -> None:
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
            self._processes = None
            self._workers = 0
