"""What became of each notification, published for notification's read model: the outcomes
of sends that finish while one publish is under way go together in the next, so under load
a batch of deliveries costs one request to nats-server rather than a rewrite of every
stored notification (which, with its second read-model upsert, was a fifth of
notification's CPU in `make bench`).

The stored notification keeps the status it was created with; ListNotifications reads the
newest outcome beside it (`readmodel/queries.py`). Outcomes are idempotent: a delivery
redone after a crash publishes the same one again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from nats.js import JetStreamContext

from fengqiao.domain.model import Delivery
from fengqiao.platform.bus import STATUS
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import delivery_status_to_proto, timestamp
from fengqiao.v1 import notification_pb2

# Outcomes in one message at most (each ~120 bytes): well under nats-server's payload limit.
MAX_BATCH: Final = 256


class DeliveryStatuses:
    """Group publishing of outcomes: `record` returns once its outcome is stored on the bus,
    or raises what the publish raised."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._waiting: list[tuple[notification_pb2.DeliveryOutcome, asyncio.Future[None]]] = []
        self._publishing: asyncio.Task[None] | None = None

    async def record(
        self, notification_id: str, status: Delivery, via: Sequence[str], *, at: datetime
    ) -> None:
        outcome = notification_pb2.DeliveryOutcome(
            notification_id=notification_id,
            status=delivery_status_to_proto(status),
            via=via,
            at=timestamp(at),
        )
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, stored))
        if self._publishing is None:
            self._publishing = asyncio.create_task(self._publish_waiting())
        await stored

    async def _publish_waiting(self) -> None:
        """Publish what is waiting, a batch at a time, until nothing is."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                message = notification_pb2.DeliveryOutcomes(outcomes=[o for o, _ in batch])
                try:
                    await self._js.publish(STATUS, encode(message))
                except Exception as exc:  # each waiting delivery says so in its own log line
                    for _, stored in batch:
                        if not stored.done():
                            stored.set_exception(exc)
                    continue
                for _, stored in batch:
                    if not stored.done():
                        stored.set_result(None)
        finally:
            self._publishing = None
