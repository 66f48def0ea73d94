"""What became of a notification, written into its stored record for ListNotifications."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from nats.js.kv import KeyValue

from fengqiao.convert import notification_to_proto
from fengqiao.domain.model import Delivery, Notification
from fengqiao.platform.cas import Outcome, compare_and_set
from fengqiao.platform.codec import encode
from fengqiao.platform.store import notification_from_bytes

# NOTIFY messages carry the bucket revision they were recorded at, so the delivery can
# write its outcome without reading the notification first.
REVISION_HEADER = "Fengqiao-Revision"


async def record_delivery(
    kv: KeyValue,
    key: str,
    status: Delivery,
    via: tuple[str, ...],
    *,
    at: datetime,
    known: tuple[bytes, int] | None = None,
) -> None:
    """Set notification `key`'s delivery status (nothing if it is gone or already says
    so). `known` (value, revision), as the NOTIFY message carries them, saves the first
    read; a stale one costs a conflict, then a read."""

    def decide(current: Notification | None) -> Outcome[None]:
        if current is None or (current.delivery, current.delivered_via) == (status, via):
            return Outcome(None)
        done = replace(current, delivery=status, delivered_via=via, delivered_at=at)
        return Outcome(None, encode(notification_to_proto(done)))

    first = (notification_from_bytes(known[0]), known[1]) if known else None
    await compare_and_set(kv, key, notification_from_bytes, decide, first)
