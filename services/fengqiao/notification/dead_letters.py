"""Dead letters: notifications whose delivery attempts ran out, for operators to read and
send again once the receiver is back (`fengqiao notifications dead-letters | redrive`)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from fengqiao.domain.errors import NotFound
from fengqiao.platform.bus import DLQ_STREAM, dead_letter_subject, recipient_subject
from fengqiao.platform.codec import decode
from fengqiao.platform.tracing import TRACEPARENT
from fengqiao.v1 import notification_pb2

# How the message id of a dead letter sent through delivery again begins.
_REDRIVE = "redrive-"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence: int
    notification_id: str
    dispute_id: str
    recipient_id: str
    attempts: int
    error: str


async def list_dead_letters(js: JetStreamContext) -> list[DeadLetter]:
    """Every dead letter, oldest first."""
    info = await js.stream_info(DLQ_STREAM)
    if not info.state.messages:
        return []
    sub = await js.pull_subscribe(
        dead_letter_subject(">"),
        stream=DLQ_STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30.0
        ),
    )
    out: list[DeadLetter] = []
    try:
        while len(out) < info.state.messages:
            try:
                msgs = await sub.fetch(256, timeout=1.0)
            except TimeoutError:
                break
            for msg in msgs:
                n = decode(msg.data, notification_pb2.Notification())
                headers = msg.headers or {}
                out.append(
                    DeadLetter(
                        sequence=msg.metadata.sequence.stream,
                        notification_id=n.id,
                        dispute_id=n.dispute_id,
                        recipient_id=n.recipient_id,
                        attempts=int(headers.get("Fengqiao-Attempts", "0")),
                        error=headers.get("Fengqiao-Last-Error", ""),
                    )
                )
    finally:
        await sub.unsubscribe()
    return out


async def redrive(js: JetStreamContext, notification_id: str) -> None:
    """Send a dead letter through delivery again (fresh attempts), then drop it."""
    try:
        msg = await js.get_last_msg(DLQ_STREAM, dead_letter_subject(notification_id))
    except NotFoundError as exc:
        raise NotFound(f"没有该死信（no dead letter {notification_id}）") from exc
    if msg.seq is None:
        raise NotFound(f"no dead letter {notification_id}")
    n = decode(msg.data or b"{}", notification_pb2.Notification())
    await js.publish(
        recipient_subject(n.recipient_id),
        msg.data or b"",
        # The dead letter's trace goes on: its delivery logs under the same trace_id.
        headers={
            "Nats-Msg-Id": f"{_REDRIVE}{notification_id}-{msg.seq}",
            **{k: v for k, v in (msg.headers or {}).items() if k == TRACEPARENT},
        },
    )
    await js.delete_msg(DLQ_STREAM, msg.seq)


def is_redriven(msg: Msg) -> bool:
    """Whether `msg` is a dead letter `redrive` sent through delivery again."""
    return (msg.headers or {}).get("Nats-Msg-Id", "").startswith(_REDRIVE)
