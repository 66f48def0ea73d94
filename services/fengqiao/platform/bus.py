"""NATS and JetStream: the connection, and every stream, consumer and KV bucket fengqiao
uses. Streams and buckets are created or brought up to date only where they are missing or
configured otherwise: by the operator's `fengqiao bus setup` on a secured bus, by each
service itself on an open one. Consumers are declared by the service that reads them.

Every subject and stream name is spelled here and nowhere else in the package: the other
modules build theirs from these constants and functions (`topology.py` the consumers',
`timers.py` the timers')."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Final

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from fengqiao.domain.errors import NatsConnectError
from fengqiao.domain.kinds import EventKind
from fengqiao.platform import tracing
from fengqiao.platform.backoff import backoff
from fengqiao.platform.codec import encode
from fengqiao.platform.nats_client import PLAIN, NatsOptions, open_connection
from fengqiao.v1.events_pb2 import DisputeEvent

log = structlog.get_logger()

STREAM: Final = "DISPUTES"
# Every subject of STREAM is under it.
STREAM_ROOT: Final = "disputes"
SUBMITTED: Final = f"{STREAM_ROOT}.submitted"
ROUTED: Final = f"{STREAM_ROOT}.routed"
EVENTS: Final = f"{STREAM_ROOT}.events"
SCHEDULE: Final = f"{STREAM_ROOT}.schedule"
TIMER: Final = f"{STREAM_ROOT}.timer"
# DisputeEvent.kind → the subject it is published on.
_SUBJECT_OF_KIND: Final[dict[str, str]] = {
    EventKind.SUBMITTED: SUBMITTED,
    EventKind.ROUTED: ROUTED,
    EventKind.ESCALATED: ROUTED,
}
# Two minutes: a client retry of the same publish is dropped by the server.
DUPLICATE_WINDOW_SECONDS: Final = 120.0
# Every notification, one subject per recipient, for dashboards that stream them.
NOTIFY_STREAM: Final = "NOTIFY"
NOTIFY: Final = "notify"
# A day: a notification republished after a crash and a slow restart is still dropped.
NOTIFY_DUPLICATE_WINDOW_SECONDS: Final = 24 * 3600.0
# The feed keeps a month: its messages name the parties, and the retention job cannot
# find them by dispute. The `notifications` bucket is the lasting record.
NOTIFY_MAX_AGE_SECONDS: Final = 30 * 24 * 3600.0
# Notifications whose delivery attempts ran out, with their last error.
DLQ_STREAM: Final = "NOTIFY_DLQ"
DLQ: Final = "dlq.notify"
# What became of notifications (`DeliveryOutcomes`), one message for the sends that finished
# together; notification's read model applies them. Kept as long as the notifications,
# which a rebuilt read model reads them with.
STATUS_STREAM: Final = "NOTIFY_STATUS"
STATUS: Final = "status.notify"

KV_DISPUTES: Final = "disputes"
KV_REQUESTS: Final = "intake_requests"
KV_NOTIFICATIONS: Final = "notifications"
KV_REPEATS: Final = "repeats"
KV_DELIVERIES: Final = "deliveries"
# Published policy versions and the one in force (`platform/policies.py`); the history
# of its `active` key is the log of activations.
KV_POLICIES: Final = "policies"
POLICIES_HISTORY: Final = 64
# Old revisions kept per dispute record: enough to read how a record changed.
KV_HISTORY: Final = 16
# Each bucket and how many revisions of a key it keeps.
_BUCKETS: Final = {
    KV_DISPUTES: KV_HISTORY,
    KV_REQUESTS: 1,
    KV_NOTIFICATIONS: 1,
    KV_REPEATS: 1,
    KV_DELIVERIES: 1,
    KV_POLICIES: POLICIES_HISTORY,
}

ACK_WAIT_SECONDS: Final = 30.0
KV_SCAN_BATCH: Final = 256
KV_SCAN_WAIT_SECONDS: Final = 1.0
KV_SCAN_IDLE_SECONDS: Final = 30.0
MAX_DELIVER: Final = 20

# What nats-py raises while nats-server is away or restarting, all worth retrying later. A
# request to a stopped server waits out its timeout (`nats: timeout`, an asyncio
# TimeoutError); a closed or draining connection refuses at once; while reconnecting, a
# full outbound buffer refuses; a server still loading JetStream has no responder for the
# stream (`NoStreamResponseError` from a publish) or answers 503.
BUS_UNAVAILABLE: Final[tuple[type[Exception], ...]] = (
    TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


@dataclass(frozen=True, slots=True)
class Bus:
    nc: Client
    js: JetStreamContext
    disputes: KeyValue
    requests: KeyValue
    notifications: KeyValue
    repeats: KeyValue
    deliveries: KeyValue
    policies: KeyValue

    async def close(self) -> None:
        # Every publish was already acknowledged and every message is acked explicitly, so
        # closing loses nothing: unacked deliveries go to another worker after ack_wait.
        await self.nc.close()


async def connect(
    url: str, name: str, options: NatsOptions = PLAIN, *, replicas: int | None = None
) -> Bus:
    """Connect to NATS as service `name`, declare what fengqiao needs, and return handles.

    `replicas` (the operator's `fengqiao bus setup --replicas 3` on a cluster) also makes
    every stream and bucket keep that many copies; None leaves the copies as they are, so
    a service never shrinks what the operator declared."""
    nc = await open_connection(url, name, options)
    try:
        js = nc.jetstream()
        await _declare_streams(js, replicas)
        kv = {
            bucket: await _bucket(js, bucket, history, replicas)
            for bucket, history in _BUCKETS.items()
        }
    except (TimeoutError, nats.errors.Error) as exc:
        await nc.close()
        raise NatsConnectError(
            f"NATS at {url} did not answer JetStream requests ({options.describe()}): "
            f"{exc or type(exc).__name__}. Is JetStream enabled? A service user may not create "
            "streams or buckets: run `fengqiao bus setup` as the operator user first."
        ) from exc
    log.info("nats_connected", url=url, service=name, user=options.user, tls=options.uses_tls)
    return Bus(
        nc, js, kv[KV_DISPUTES], kv[KV_REQUESTS], kv[KV_NOTIFICATIONS], kv[KV_REPEATS],
        kv[KV_DELIVERIES], kv[KV_POLICIES],
    )  # fmt: skip


def _streams(replicas: int | None = None) -> tuple[StreamConfig, ...]:
    configs = (
        StreamConfig(
            name=STREAM,
            subjects=[f"{STREAM_ROOT}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            # Deadlines are JetStream scheduled messages on this same stream.
            allow_msg_schedules=True,
        ),
        StreamConfig(
            name=NOTIFY_STREAM,
            subjects=[f"{NOTIFY}.>"],
            storage=StorageType.FILE,
            duplicate_window=NOTIFY_DUPLICATE_WINDOW_SECONDS,
            max_age=NOTIFY_MAX_AGE_SECONDS,
        ),
        StreamConfig(
            name=DLQ_STREAM,
            subjects=[f"{DLQ}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        ),
        StreamConfig(name=STATUS_STREAM, subjects=[STATUS], storage=StorageType.FILE),
    )
    if replicas is None:
        return configs
    return tuple(dataclasses.replace(c, num_replicas=replicas) for c in configs)


async def _declare_streams(js: JetStreamContext, replicas: int | None) -> None:
    """Create each stream, or bring it to this version's configuration, only if needed:
    where an operator declared them beforehand (`fengqiao bus setup`), a service needs
    no permission to create or change streams."""
    for config in _streams(replicas):
        assert config.name is not None
        try:
            found = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        copies_differ = replicas is not None and found.config.num_replicas != replicas
        if copies_differ or not _configured_as(found.config, config):
            await js.update_stream(config)


def _configured_as(have: StreamConfig, want: StreamConfig) -> bool:
    """Whether every setting `want` makes (each it sets away from nats-py's default) is
    already `have`'s. Settings the server derives, like roll-ups for schedules, are not."""
    default = StreamConfig(name=want.name)
    return all(
        getattr(have, f.name) == value
        for f in dataclasses.fields(want)
        if (value := getattr(want, f.name)) != getattr(default, f.name)
    )


def declared_streams() -> tuple[str, ...]:
    """Every stream `connect` declares, but the KV buckets' own."""
    return tuple(c.name or "" for c in _streams())


def declared_buckets() -> tuple[str, ...]:
    """Every KV bucket `connect` declares."""
    return tuple(_BUCKETS)


def declared_names() -> tuple[str, ...]:
    """Every stream `connect` declares, KV buckets' streams included."""
    return (*declared_streams(), *(kv_stream(b) for b in declared_buckets()))


def fact_subject(kind: str, dispute_id: str) -> str:
    """The subject a `DisputeEvent` of `kind` about `dispute_id` is published on."""
    return f"{_SUBJECT_OF_KIND.get(kind, EVENTS)}.{dispute_id}"


def dispute_subjects(dispute_id: str) -> tuple[str, ...]:
    """Patterns that together match every message of `STREAM` about one dispute: its facts
    (`disputes.<fact>.<id>`), and its timers and their schedules
    (`disputes.<timer|schedule>.<timer>.<id>.…`)."""
    return (f"{STREAM_ROOT}.*.{dispute_id}", f"{STREAM_ROOT}.*.*.{dispute_id}.>")


def dead_letter_subject(notification_id: str) -> str:
    """The dead letter of one notification; `>` gives them all."""
    return f"{DLQ}.{notification_id}"


def dead_letters_of(dispute_id: str) -> str:
    """The pattern of the dead letters of one dispute's notifications, whose ids begin
    with the dispute's (`<dispute>.<event>.<recipient hash>`)."""
    return dead_letter_subject(f"{dispute_id}.>")


def recipient_subject(recipient_id: str) -> str:
    """The NOTIFY subject of one recipient (ids hold characters subjects cannot)."""
    return f"{NOTIFY}.{hashlib.sha256(recipient_id.encode('utf-8')).hexdigest()[:32]}"


async def _bucket(js: JetStreamContext, name: str, history: int, replicas: int | None) -> KeyValue:
    try:
        kv = await js.key_value(name)
    except NotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name, history=history, storage=StorageType.FILE, replicas=replicas or 1
            )
        )
    if replicas is not None:
        found = await js.stream_info(kv_stream(name))
        if found.config.num_replicas != replicas:
            await js.update_stream(dataclasses.replace(found.config, num_replicas=replicas))
    return kv


async def pull_consumer(
    js: JetStreamContext, durable: str, subject: str, stream: str = STREAM
) -> JetStreamContext.PullSubscription:
    """A durable pull subscription with explicit acks on `subject` of `stream`."""
    return await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=MAX_DELIVER,
            filter_subject=subject,
        ),
    )


async def publish_event(js: JetStreamContext, event: DisputeEvent) -> None:
    """Publish a fact on its subject; `event_id` is the Nats-Msg-Id, so a repeat within the
    duplicate window is dropped by the server."""
    await js.publish(
        fact_subject(event.kind, event.dispute_id),
        encode(event),
        headers=tracing.headers({"Nats-Msg-Id": event.event_id}),
    )


def redelivery_delay(num_delivered: int) -> float:
    """Seconds before a failed message is tried again: 1, 2, 4 … capped at 60."""
    return backoff(num_delivered, 1.0, 60.0)


def kv_stream(bucket: str) -> str:
    """The stream that holds KV bucket `bucket`."""
    return f"KV_{bucket}"


def kv_subject(bucket: str, key: str = ">") -> str:
    """The subject of `key` (or of a pattern of keys) in KV bucket `bucket`."""
    return f"$KV.{bucket}.{key}"


async def _scan(
    js: JetStreamContext, bucket: str, pattern: str, policy: DeliverPolicy
) -> JetStreamContext.PullSubscription:
    """An ephemeral pull consumer on the messages of `bucket` whose keys match `pattern`,
    acknowledged by nobody and gone by itself if left."""
    return await js.pull_subscribe(
        kv_subject(bucket, pattern),
        stream=kv_stream(bucket),
        config=ConsumerConfig(
            deliver_policy=policy,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=KV_SCAN_IDLE_SECONDS,
        ),
    )


def _removed(msg: Msg) -> bool:
    """Whether a message of a bucket's stream deletes or purges its key."""
    return (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE")


async def kv_history(js: JetStreamContext, bucket: str, key: str) -> list[bytes | None]:
    """Every revision of `key` the bucket still keeps, oldest first: its value, or None for
    a deletion or purge.

    Read with an ephemeral pull consumer until nothing of the key is pending. (nats-py's
    `KeyValue.history` decides it has seen everything from a consumer-info request racing
    the messages it pushes: when they all arrived first, it returned none of them.)"""
    sub = await _scan(js, bucket, key, DeliverPolicy.ALL)
    found: list[bytes | None] = []
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while pending:
            for msg in await sub.fetch(min(pending, KV_SCAN_BATCH), timeout=KV_SCAN_WAIT_SECONDS):
                found.append(None if _removed(msg) else msg.data)
                pending = msg.metadata.num_pending
    finally:
        await sub.unsubscribe()
    return found


async def kv_values(js: JetStreamContext, bucket: str, pattern: str = ">") -> list[bytes]:
    """The latest value of every key of `bucket` matching `pattern`, in one pass.

    Reads the bucket's stream with an ephemeral pull consumer (last value per key) up to
    the stream's last message at the start. (nats-py's KV watcher signals the end of the
    initial values only at a quiet moment, which never comes while records are being
    written.) A key written meanwhile may come back newer; never twice."""
    stream = kv_stream(bucket)
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    last = info.state.last_seq
    sub = await _scan(js, bucket, pattern, DeliverPolicy.LAST_PER_SUBJECT)
    latest: dict[str, bytes] = {}
    try:
        done = False
        while not done:
            try:
                msgs = await sub.fetch(KV_SCAN_BATCH, timeout=KV_SCAN_WAIT_SECONDS)
            except nats.errors.TimeoutError:
                break  # nothing (more) matches
            for msg in msgs:
                key = msg.subject.removeprefix(kv_subject(bucket, ""))
                if _removed(msg):
                    latest.pop(key, None)
                else:
                    latest[key] = msg.data
                meta = msg.metadata
                done = done or meta.sequence.stream >= last or meta.num_pending == 0
    finally:
        await sub.unsubscribe()
    return [value for value in latest.values() if value]
