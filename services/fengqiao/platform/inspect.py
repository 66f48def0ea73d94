"""What a KV value or stream message says, in JSON: values are stored as binary protobuf,
so operators read them through `fengqiao bus show` instead of `nats kv get`."""

from __future__ import annotations

from typing import Final

from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError

from fengqiao.domain.errors import NotFound, Unreadable
from fengqiao.platform.bus import (
    DLQ_STREAM,
    KV_DISPUTES,
    KV_NOTIFICATIONS,
    NOTIFY_STREAM,
    STATUS_STREAM,
    STREAM,
    declared_buckets,
    declared_streams,
)
from fengqiao.platform.codec import decode, to_json
from fengqiao.v1 import dispute_pb2, events_pb2, notification_pb2

# What each bucket's values and each stream's messages are; the rest hold small JSON.
_MESSAGES: Final[dict[str, type[Message]]] = {
    KV_DISPUTES: dispute_pb2.DisputeRecord,
    KV_NOTIFICATIONS: notification_pb2.Notification,
    STREAM: events_pb2.DisputeEvent,
    NOTIFY_STREAM: notification_pb2.Notification,
    DLQ_STREAM: notification_pb2.Notification,
    STATUS_STREAM: notification_pb2.DeliveryOutcomes,
}


def readable(where: str, data: bytes) -> str:
    """`data` from bucket or stream `where` as text: JSON of its message, else as written."""
    message = _MESSAGES.get(where)
    if message is None:
        return data.decode("utf-8", errors="replace")
    try:
        return to_json(decode(data, message()))
    except Unreadable as exc:
        return f"（无法解读 unreadable: {exc}）{data!r}"


async def show(js: JetStreamContext, where: str, key: str) -> str:
    """The value of `key` in KV bucket `where`, or message number `key` of stream `where`."""
    streams = set(declared_streams())
    if where in streams:
        if not key.isdigit():
            raise NotFound(f"流 {where} 的消息以序号查看（stream messages are shown by sequence)")
        try:
            msg = await js.get_msg(where, int(key))
        except NotFoundError as exc:
            raise NotFound(f"{where} 中没有序号为 {key} 的消息（no message {key}）") from exc
        return f"{msg.subject}\n{readable(where, msg.data or b'')}"
    buckets = set(declared_buckets())
    if where not in buckets:
        known = "、".join(sorted(buckets | streams))
        raise NotFound(f"没有名为 {where} 的桶或流，可选：{known}（no bucket or stream {where}）")
    try:
        entry = await (await js.key_value(where)).get(key)
    except KeyNotFoundError as exc:
        raise NotFound(f"{where} 中没有键 {key}（no key {key} in {where}）") from exc
    return readable(where, entry.value or b"")
