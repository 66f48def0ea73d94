"""The stored history the playground replays a draft on: intake's read model, reached as
`fengqiao rules replay` reaches it (`FENGQIAO_DATABASE_URL`, else the SQLite file under
`FENGQIAO_DATA_DIR`). Opened on first use, since the console may start before intake has
built it, and only ever read: nothing is migrated or written."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from fengqiao.platform.settings import Settings
from fengqiao.readmodel.history import open_history


class History:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        """The read model's engine (from any thread); `DatabaseError` while it is not
        there yet, tried again at the next call."""
        with self._lock:
            if self._engine is None:
                self._engine = open_history(self._settings)
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
