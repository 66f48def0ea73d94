"""The delivery consumer: every recorded notification is sent through its recipient's
channels, retried with exponential backoff and jitter, and parked in the dead-letter
stream with its last error when the attempts run out. A channel that took it is never
sent to again for the same notification, however often the message is redelivered, and
where two replicas could hold the same message, each send is claimed first, so only one
of them makes it (`claims.py`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg

from fengqiao.domain.errors import DeliveryFailed, Retry
from fengqiao.domain.model import Delivery, Notification
from fengqiao.notification.channels import Sender
from fengqiao.notification.claims import Claims, Verdict, needs_claim
from fengqiao.notification.directory import Channel, Directory
from fengqiao.notification.phones import PartyPhones
from fengqiao.notification.recipients import PARTY, party_index
from fengqiao.notification.records import DeliveryStatuses
from fengqiao.platform import redact, tracing
from fengqiao.platform.backoff import backoff
from fengqiao.platform.bus import Bus, dead_letter_subject
from fengqiao.platform.codec import decode
from fengqiao.platform.convert import notification_from_proto
from fengqiao.platform.logs import bound
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
        return backoff(attempt, self.base_seconds, self.max_seconds, jitter=0.25)


class DeliveryWorker:
    def __init__(self, bus: Bus, directory: Directory, sender: Sender, retry: RetryPolicy) -> None:
        self._bus = bus
        self._directory = directory
        self._sender = sender
        self._retry = retry
        self._phones = PartyPhones(DisputeStore(bus))
        self._claims = Claims(bus.deliveries)
        self._statuses = DeliveryStatuses(bus.js)

    def use_directory(self, directory: Directory) -> None:
        """Send by `directory` from now on; deliveries under way finish as they began."""
        self._directory = directory

    async def handle(self, msg: Msg) -> None:
        n = notification_from_proto(decode(msg.data, notification_pb2.Notification()))
        attempt = msg.metadata.num_delivered
        errors = []
        sent: list[str] = []
        carried: list[str] = []  # the kinds of channel that took it
        held = 0.0  # > 0: another replica is sending a channel; look again after this
        with (
            bound(dispute_id=n.dispute_id),
            redact.masking((n.recipient_label, n.address) if n.recipient_role == PARTY else ()),
        ):
            channels = await self._channels(n)
            if not channels:
                # Retrying cannot help until the directory lists the recipient: no send,
                # no `notification_sent`; counted, and `rules check` warns beforehand.
                log.warning(
                    "notification_unroutable",
                    notification_id=n.id,
                    recipient=n.recipient_id,
                    role=n.recipient_role,
                    event_kind=n.event,
                )
                await self._record(n, Delivery.UNROUTABLE, ())
                return
            for index, channel in enumerate(channels):
                done = f"{n.id}.{index}"
                fields = {
                    "notification_id": n.id,
                    "recipient": n.recipient_id,
                    "channel": channel.kind,
                    "attempt": attempt,
                }
                # Asked before each send: a slow earlier channel can age the message.
                claim = await self._claims.take(done) if needs_claim(msg) else None
                if claim is not None and claim.verdict is Verdict.SENT:
                    carried.append(channel.kind)
                    continue
                if claim is not None and claim.verdict is Verdict.HELD:
                    log.info("notification_claimed_elsewhere", **fields)
                    held = max(held, claim.lapses_in)
                    continue
                started = time.perf_counter()
                try:
                    fields["channel"] = await self._sender.send(channel, n)
                except DeliveryFailed as exc:
                    errors.append(f"{channel.kind}: {exc}")
                    log.warning(
                        "notification_failed", error=str(exc), **fields, latency_ms=_ms(started)
                    )
                    if claim is not None:
                        await self._claims.release(done, claim)
                    continue
                log.info("notification_sent", **fields, latency_ms=_ms(started))
                carried.append(str(fields["channel"]))
                if claim is not None:
                    await self._claims.sent(done, claim)
                else:
                    sent.append(done)
            if not errors and not held:
                real = any(kind != "log" for kind in carried)
                await self._record(n, Delivery.SENT if real else Delivery.LOGGED_ONLY, carried)
                return
            # This message comes back: remember which channels took it, to skip them then.
            for done in sent:
                await self._claims.sent(done)
            if errors and attempt >= self._retry.attempts:
                await self._dead_letter(msg, n.id, attempt, errors[-1])
                await self._record(n, Delivery.DEAD_LETTERED, carried)
                return
            delay = self._retry.delay(attempt) if errors else 0.0
            raise Retry(max(delay, held))

    async def _record(self, n: Notification, status: Delivery, carried: Sequence[str]) -> None:
        """Publish what became of `n`, for ListNotifications. Best effort: a send that
        landed is never repeated for want of its status (the notification then stays
        `recorded`)."""
        try:
            await self._statuses.record(
                n.id, status, tuple(dict.fromkeys(carried)), at=datetime.now(UTC)
            )
        except Exception as exc:
            log.warning("delivery_status_not_recorded", notification_id=n.id, error=repr(exc))

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
        return await self._phones.phone(n.dispute_id, index)

    async def _dead_letter(self, msg: Msg, notification_id: str, attempts: int, error: str) -> None:
        await self._bus.js.publish(
            dead_letter_subject(notification_id),
            msg.data,
            headers=tracing.headers(
                {
                    "Nats-Msg-Id": f"dlq-{notification_id}-{msg.metadata.sequence.stream}",
                    "Fengqiao-Last-Error": error[:500],
                    "Fengqiao-Attempts": str(attempts),
                    "Fengqiao-Source-Subject": msg.subject,
                }
            ),
        )
        log.error(
            "notification_dead_lettered",
            notification_id=notification_id,
            attempts=attempts,
            error=error,
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
