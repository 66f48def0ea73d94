"""The delivery consumer: every recorded notification is sent through its recipient's
channels, retried with exponential backoff and jitter, and parked in the dead-letter
stream with its last error when the attempts run out. A channel that took it is never
sent to again for the same notification, however often the message is redelivered."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from fengqiao.convert import notification_from_proto
from fengqiao.domain.model import Notification
from fengqiao.notification.channels import DeliveryFailed, Sender
from fengqiao.notification.dead_letters import is_redriven
from fengqiao.notification.directory import Channel, Directory
from fengqiao.notification.recipients import party_index
from fengqiao.platform.bus import Bus, dead_letter_subject
from fengqiao.platform.codec import decode
from fengqiao.platform.consume import Retry
from fengqiao.platform.store import DisputeStore
from fengqiao.v1 import notification_pb2

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Exponential from `base_seconds`, with up to ±25 % jitter, capped."""
        raw: float = min(self.base_seconds * 2.0 ** (attempt - 1), self.max_seconds)
        return raw * random.uniform(0.75, 1.25)  # jitter spreads retries; not security


class DeliveryWorker:
    def __init__(self, bus: Bus, directory: Directory, sender: Sender, retry: RetryPolicy) -> None:
        self._bus = bus
        self._directory = directory
        self._sender = sender
        self._retry = retry
        self._disputes = DisputeStore(bus)

    def use_directory(self, directory: Directory) -> None:
        """Send by `directory` from now on; deliveries under way finish as they began."""
        self._directory = directory

    async def handle(self, msg: Msg) -> None:
        n = notification_from_proto(decode(msg.data, notification_pb2.Notification()))
        attempt = msg.metadata.num_delivered
        # Only a message seen before (or sent again from the dead letters) can have gone
        # through some of its channels already; a first delivery need not look.
        seen_before = attempt > 1 or is_redriven(msg)
        errors = []
        sent: list[str] = []
        with structlog.contextvars.bound_contextvars(dispute_id=n.dispute_id):
            channels = await self._channels(n)
            for index, channel in enumerate(channels):
                done = f"{n.id}.{index}"
                if seen_before and await self._delivered(done):
                    continue
                started = time.perf_counter()
                fields = {
                    "notification_id": n.id,
                    "recipient": n.recipient_id,
                    "channel": channel.kind,
                    "attempt": attempt,
                }
                try:
                    fields["channel"] = await self._sender.send(channel, n)
                except DeliveryFailed as exc:
                    errors.append(f"{channel.kind}: {exc}")
                    log.warning(
                        "notification_failed", error=str(exc), **fields, latency_ms=_ms(started)
                    )
                    continue
                log.info("notification_sent", **fields, latency_ms=_ms(started))
                sent.append(done)
            if not errors:
                return
            # This message comes back: remember which channels took it, to skip them then.
            for done in sent:
                await self._mark(done)
            if attempt >= self._retry.attempts:
                await self._dead_letter(msg, n.id, attempt, errors[-1])
                return
            raise Retry(self._retry.delay(attempt))

    async def _channels(self, n: Notification) -> tuple[Channel, ...]:
        if n.address:  # a party's email
            return (Channel("email", n.address),)
        if n.channel == "sms":
            phone = await self._phone(n)
            if phone:
                return (Channel("sms", phone),)
        return self._directory.channels_for(n.recipient_id)

    async def _phone(self, n: Notification) -> str:
        index = party_index(n.recipient_id)
        if index is None:
            return ""
        # Only one field is wanted: read the message, not the whole domain record.
        record = await self._disputes.get_message(n.dispute_id)
        if record is None or index >= len(record.dispute.parties):
            return ""
        return record.dispute.parties[index].phone

    async def _delivered(self, key: str) -> bool:
        try:
            await self._bus.deliveries.get(key)
        except KeyNotFoundError:
            return False
        return True

    async def _mark(self, key: str) -> None:
        # Another delivery of the same message may have recorded it first.
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._bus.deliveries.create(key, b"1")

    async def _dead_letter(self, msg: Msg, notification_id: str, attempts: int, error: str) -> None:
        await self._bus.js.publish(
            dead_letter_subject(notification_id),
            msg.data,
            headers={
                "Nats-Msg-Id": f"dlq-{notification_id}-{msg.metadata.sequence.stream}",
                "Fengqiao-Last-Error": error[:500],
                "Fengqiao-Attempts": str(attempts),
                "Fengqiao-Source-Subject": msg.subject,
            },
        )
        log.error(
            "notification_dead_lettered",
            notification_id=notification_id,
            attempts=attempts,
            error=error,
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
