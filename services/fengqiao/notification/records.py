"""What became of a notification, written into its stored record for ListNotifications."""

from __future__ import annotations

from datetime import datetime

from nats.js.kv import KeyValue

from fengqiao.domain.model import Delivery
from fengqiao.platform.cas import Outcome, compare_and_set
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.convert import delivery_status_to_proto, timestamp
from fengqiao.v1 import notification_pb2

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

    # Three fields change: set them on the stored message rather than through the domain
    # value and back (that round trip was 6 % of notification's CPU under load).
    code = delivery_status_to_proto(status)
    stamp = timestamp(at)

    def decide(current: notification_pb2.Notification | None) -> Outcome[None]:
        if current is None or (
            current.delivery_status == code and tuple(current.delivered_via) == via
        ):
            return Outcome(None)
        current.delivery_status = code
        current.delivered_via[:] = via
        if stamp is not None:
            current.delivered_at.CopyFrom(stamp)
        return Outcome(None, encode(current))

    first = (_message(known[0]), known[1]) if known else None
    await compare_and_set(kv, key, _message, decide, first)


def _message(data: bytes) -> notification_pb2.Notification:
    return decode(data, notification_pb2.Notification())
