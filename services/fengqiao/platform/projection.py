"""A read model of one KV bucket: the latest value of every key, decoded once when it
changes, kept current by following the bucket's stream with an ordered consumer.

Listing and statistics read it instead of scanning the bucket per request (a scan
decoded every record each time: ~4 s per call at 10,000 disputes). A read first waits
until the model has seen the bucket's last write at the moment of the call, so a client
sees its own writes (while the model loads at start, reads wait for it); if the model
stops advancing, the read scans the bucket instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Generic, TypeVar

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from fengqiao.platform.bus import kv_values

log = structlog.get_logger()

T = TypeVar("T")
CATCH_UP_SECONDS: Final = 2.0
_REMOVED: Final = ("DEL", "PURGE")


class Projection(Generic[T]):
    def __init__(self, js: JetStreamContext, bucket: str, decode: Callable[[bytes], T]) -> None:
        self._js = js
        self._bucket = bucket
        self._stream = f"KV_{bucket}"
        self._decode = decode
        self._values: dict[str, T] = {}
        self._seen = 0  # stream sequence of the last message applied
        self._advanced = asyncio.Condition()
        self._subscription: JetStreamContext.PushSubscription | None = None

    async def start(self) -> None:
        self._subscription = await self._js.subscribe(
            f"$KV.{self._bucket}.>",
            stream=self._stream,
            cb=self._apply,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _apply(self, msg: Msg) -> None:
        key = msg.subject.removeprefix(f"$KV.{self._bucket}.")
        value = None
        if (msg.headers or {}).get("KV-Operation") not in _REMOVED and msg.data:
            value = self._read(msg.data, key)
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value
        async with self._advanced:
            self._seen = max(self._seen, msg.metadata.sequence.stream)
            self._advanced.notify_all()

    async def values(self) -> list[T]:
        """Every current value, including every write acknowledged before this call."""
        last = (await self._js.stream_info(self._stream)).state.last_seq
        if not await self._caught_up(last):
            log.warning("projection_behind", bucket=self._bucket, seen=self._seen, last=last)
            scanned = (self._read(v) for v in await kv_values(self._js, self._bucket))
            return [v for v in scanned if v is not None]
        return list(self._values.values())

    async def _caught_up(self, last: int) -> bool:
        """Wait until the model has applied stream sequence `last`; False if it stops
        advancing for `CATCH_UP_SECONDS` (while it loads at start, it keeps advancing)."""
        while True:
            before = self._seen
            try:
                async with asyncio.timeout(CATCH_UP_SECONDS), self._advanced:
                    await self._advanced.wait_for(lambda: self._seen >= last)
            except TimeoutError:
                if self._seen == before:
                    return False
            else:
                return True

    def _read(self, data: bytes, key: str = "") -> T | None:
        try:
            return self._decode(data)
        except Exception:  # one bad value must not stop the model, nor fail a read
            log.exception("projection_value_unreadable", bucket=self._bucket, key=key)
            return None
