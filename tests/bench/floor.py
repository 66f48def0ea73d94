"""The floor: fengqiao's hops with no business logic, each hop its own process.

What the architecture itself costs (gRPC in, NATS KV and JetStream between processes),
with binary protobuf payloads and each fetched batch handled concurrently. The gap
between fengqiao and this is what fengqiao adds on top of its hops.

    python -m tests.bench.floor intake|triage|notification|delivery --nats URL [--port P]

Each prints `ready` once it serves or consumes, and stops on SIGTERM. `declare` (called by
the benchmark before starting them) creates the streams, buckets and consumers."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import grpc
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    Header,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from fengqiao.v1 import dispute_pb2, events_pb2, intake_pb2, intake_pb2_grpc

STREAM: Final = "FLOOR"
NOTIFY_STREAM: Final = "FLOOR_NOTIFY"
KV_REQUESTS: Final = "floor_requests"
KV_DISPUTES: Final = "floor_disputes"
KV_NOTIFICATIONS: Final = "floor_notifications"
SUBMITTED: Final = "floor.submitted"
ROUTED: Final = "floor.routed"
SCHEDULE: Final = "floor.schedule"
TIMER: Final = "floor.timer"
NOTIFY: Final = "floor_notify"
# (consumer, stream, subject) of each worker hop.
CONSUMERS: Final = {
    "triage": ("floor-triage", STREAM, f"{SUBMITTED}.>"),
    "notification": ("floor-notification", STREAM, f"{ROUTED}.>"),
    "delivery": ("floor-delivery", NOTIFY_STREAM, f"{NOTIFY}.>"),
}
ROLES: Final = ("intake", "triage", "notification", "delivery")
# fengqiao's typical fan-out: grid worker, community room, street centre, two parties.
RECIPIENTS: Final = 5
FETCH: Final = 64
FETCH_WAIT_SECONDS: Final = 1.0
# The record's revision after triage's write, so notification's CAS needs no read first.
REVISION: Final = "Floor-Revision"


async def declare(js: JetStreamContext) -> None:
    """Streams, buckets and durable consumers as fengqiao declares its own (file store,
    dedupe windows, schedules allowed, 16 revisions of a record kept)."""
    await js.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=["floor.>"],
            storage=StorageType.FILE,
            duplicate_window=120.0,
            allow_msg_schedules=True,
        )
    )
    await js.add_stream(
        StreamConfig(
            name=NOTIFY_STREAM,
            subjects=[f"{NOTIFY}.>"],
            storage=StorageType.FILE,
            duplicate_window=120.0,
        )
    )
    for bucket, history in ((KV_REQUESTS, 1), (KV_DISPUTES, 16), (KV_NOTIFICATIONS, 1)):
        await js.create_key_value(
            KeyValueConfig(bucket=bucket, history=history, storage=StorageType.FILE)
        )
    for durable, stream, subject in CONSUMERS.values():
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30.0,
                filter_subject=subject,
            ),
        )


class FloorIntake(intake_pb2_grpc.IntakeServiceServicer):
    """SubmitDispute as three NATS round trips: claim the request id, create the record,
    publish the fact. Nothing is validated or converted."""

    def __init__(self, js: JetStreamContext, requests: KeyValue, disputes: KeyValue) -> None:
        self._js = js
        self._requests = requests
        self._disputes = disputes

    async def SubmitDispute(  # noqa: N802 (gRPC method names are PascalCase)
        self,
        request: intake_pb2.SubmitDisputeRequest,
        context: grpc.aio.ServicerContext[
            intake_pb2.SubmitDisputeRequest, intake_pb2.SubmitDisputeResponse
        ],
    ) -> intake_pb2.SubmitDisputeResponse:
        dispute_id = f"FL-{uuid.uuid4().hex[:20]}"
        await self._requests.create(request.request_id, dispute_id.encode())
        await self._disputes.create(dispute_id, request.SerializeToString())
        event = events_pb2.DisputeEvent(
            event_id=f"submitted-{dispute_id}", dispute_id=dispute_id, kind="submitted"
        )
        await self._js.publish(
            f"{SUBMITTED}.{dispute_id}",
            event.SerializeToString(),
            headers={"Nats-Msg-Id": event.event_id},
        )
        return intake_pb2.SubmitDisputeResponse(
            dispute_id=dispute_id, status=dispute_pb2.DISPUTE_STATUS_RECEIVED
        )

    async def GetDispute(self, request: Any, context: Any) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the floor")

    async def ListDisputes(self, request: Any, context: Any) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the floor")

    async def RecordEvent(self, request: Any, context: Any) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the floor")

    async def GetBoard(self, request: Any, context: Any) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the floor")

    async def GetStats(self, request: Any, context: Any) -> Any:  # noqa: N802
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the floor")


def _far_future() -> str:
    """An ADR-51 `@at` a year ahead: the schedules are stored and never fire in a run."""
    return f"@at {datetime.now(UTC) + timedelta(days=365):%Y-%m-%dT%H:%M:%SZ}"


async def triage(js: JetStreamContext, msg: Msg) -> None:
    """Read the record, write it back by CAS, publish routed, schedule two timers."""
    disputes = await _bucket(js, KV_DISPUTES)
    submitted = events_pb2.DisputeEvent.FromString(msg.data)
    dispute_id = submitted.dispute_id
    entry = await disputes.get(dispute_id)
    assert entry.value is not None
    request = intake_pb2.SubmitDisputeRequest.FromString(entry.value)
    revision = await disputes.update(dispute_id, entry.value, last=entry.revision)
    routed = events_pb2.DisputeEvent(
        event_id=f"routed-{dispute_id}", dispute_id=dispute_id, kind="routed", step=1
    )
    routed.dispute.CopyFrom(request.dispute)
    await js.publish(
        f"{ROUTED}.{dispute_id}",
        routed.SerializeToString(),
        headers={"Nats-Msg-Id": routed.event_id, REVISION: str(revision)},
    )
    at = _far_future()
    for timer in ("deadline", "response"):
        key = f"{timer}.{dispute_id}.1"
        await js.publish(
            f"{SCHEDULE}.{key}",
            routed.SerializeToString(),
            headers={
                Header.SCHEDULE: at,
                Header.SCHEDULE_TARGET: f"{TIMER}.{key}",
                "Nats-Msg-Id": f"schedule-{key}",
            },
        )


async def notification(js: JetStreamContext, msg: Msg) -> None:
    """Per recipient a KV create and a publish to the notify stream, then one CAS update."""
    disputes = await _bucket(js, KV_DISPUTES)
    notifications = await _bucket(js, KV_NOTIFICATIONS)
    routed = events_pb2.DisputeEvent.FromString(msg.data)
    dispute_id = routed.dispute_id
    for recipient in range(RECIPIENTS):
        key = f"{dispute_id}.r{recipient}"
        await notifications.create(key, msg.data)
        await js.publish(f"{NOTIFY}.r{recipient}", msg.data, headers={"Nats-Msg-Id": key})
    revision = int((msg.headers or {})[REVISION])
    await disputes.update(dispute_id, routed.dispute.SerializeToString(), last=revision)


async def delivery(js: JetStreamContext, msg: Msg) -> None:
    """Nothing: the hop's cost is its fetch and its ack."""


_buckets: dict[str, KeyValue] = {}


async def _bucket(js: JetStreamContext, name: str) -> KeyValue:
    if name not in _buckets:
        _buckets[name] = await js.key_value(name)
    return _buckets[name]


Handler = Callable[[JetStreamContext, Msg], Awaitable[None]]
HANDLERS: Final[dict[str, Handler]] = {
    "triage": triage,
    "notification": notification,
    "delivery": delivery,
}


async def consume(js: JetStreamContext, role: str, stop: asyncio.Event) -> None:
    """Fetch up to FETCH, handle them all concurrently, ack each; repeat until stopped."""
    durable, stream, _ = CONSUMERS[role]
    handler = HANDLERS[role]
    sub = await js.pull_subscribe_bind(durable, stream)
    print("ready", flush=True)

    async def settle(msg: Msg) -> None:
        try:
            await handler(js, msg)
        except Exception as exc:
            print(f"floor {role}: {exc!r}", file=sys.stderr, flush=True)
            await msg.nak(delay=1.0)
        else:
            await msg.ack()

    while not stop.is_set():
        try:
            msgs = await sub.fetch(FETCH, timeout=FETCH_WAIT_SECONDS)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        await asyncio.gather(*(settle(m) for m in msgs))


async def serve(js: JetStreamContext, port: int, stop: asyncio.Event) -> None:
    servicer = FloorIntake(js, await js.key_value(KV_REQUESTS), await js.key_value(KV_DISPUTES))
    server = grpc.aio.server()
    intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await stop.wait()
    await server.stop(grace=2)


async def main(role: str, url: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc: Client = await nats.connect(url, name=f"floor-{role}")
    try:
        js = nc.jetstream()
        if role == "intake":
            await serve(js, port, stop)
        else:
            await consume(js, role, stop)
    finally:
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--nats", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.role, args.nats, args.port))
