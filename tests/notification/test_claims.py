"""Delivery claims a send before making it: two replicas holding the same redelivered
message send it once, and a claim whose holder went away is taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from fengqiao.domain.errors import Retry
from fengqiao.domain.model import Notification
from fengqiao.notification.channels import ChannelSettings, Sender
from fengqiao.notification.delivery import DeliveryWorker, RetryPolicy
from fengqiao.notification.directory import load_directory
from fengqiao.platform.bus import NOTIFY, NOTIFY_STREAM, Bus, connect, recipient_subject
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import notification_to_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from tests.receivers import HttpReceiver, http_receiver
from tests.support import eventually

pytestmark = pytest.mark.asyncio

GRID = "甘州区/东街街道/南关社区/第3网格"
RECIPIENT = f"grid_worker@{GRID}"
# Short, so the test sees redeliveries quickly; the service's consumers wait 30 s.
TEST_ACK_WAIT = 1.0


def _notification() -> Notification:
    return Notification(
        id="FQ-20261129-00000c1a01.routed-FQ-20261129-00000c1a01-1.abc",
        dispute_id="FQ-20261129-00000c1a01",
        event="routed",
        recipient_id=RECIPIENT,
        recipient_role="grid_worker",
        recipient_label="网格员",
        channel="webhook",
        message="【枫桥】新分派纠纷",
        created_at=datetime.now(UTC),
    )


async def _worker(bus: Bus, tmp_path: Path, port: int, client: httpx.AsyncClient) -> DeliveryWorker:
    path = tmp_path / "directory.yaml"
    path.write_text(
        f"contacts:\n  - role: grid_worker\n    where: {GRID}\n    channels:\n"
        f"      - webhook: http://127.0.0.1:{port}/hook\n",
        encoding="utf-8",
    )
    sender = Sender(ChannelSettings(), client)
    return DeliveryWorker(bus, load_directory(path), sender, RetryPolicy(attempts=5))


async def _next(sub: JetStreamContext.PullSubscription) -> Msg | None:
    try:
        (msg,) = await sub.fetch(1, timeout=0.5)
    except TimeoutError:
        return None
    return msg


async def _subscribe(bus: Bus) -> JetStreamContext.PullSubscription:
    """The delivery consumer's shape, with a short ack wait, shared by every caller."""
    return await bus.js.pull_subscribe(
        f"{NOTIFY}.>",
        durable="claims-test",
        stream=NOTIFY_STREAM,
        config=ConsumerConfig(
            durable_name="claims-test",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=TEST_ACK_WAIT,
        ),
    )


@pytest.fixture
async def replicas(
    nats_server: EmbeddedNats, tmp_path: Path
) -> AsyncIterator[tuple[HttpReceiver, list[tuple[Bus, DeliveryWorker]]]]:
    """A webhook receiver and two delivery workers, each on a connection of its own."""
    async with http_receiver() as receiver, httpx.AsyncClient() as client:
        buses = [await connect(nats_server.url, f"notification-{i}") for i in (1, 2)]
        try:
            workers = [await _worker(b, tmp_path, receiver.port, client) for b in buses]
            yield receiver, list(zip(buses, workers, strict=True))
        finally:
            for bus in buses:
                await bus.close()


async def _publish(bus: Bus, n: Notification) -> None:
    await bus.js.publish(
        recipient_subject(n.recipient_id),
        encode(notification_to_proto(n)),
        headers={"Nats-Msg-Id": n.id},
    )


async def _settle(worker: DeliveryWorker, msg: Msg) -> str:
    """What the consumer loop would do with the message: ack, or nak for a later look."""
    try:
        await worker.handle(msg)
    except Retry:
        await msg.nak()
        return "retry"
    await msg.ack()
    return "ack"


async def test_two_replicas_holding_one_redelivered_message_send_it_once(
    replicas: tuple[HttpReceiver, list[tuple[Bus, DeliveryWorker]]],
) -> None:
    receiver, [(bus_a, worker_a), (bus_b, worker_b)] = replicas
    await _publish(bus_a, _notification())
    sub_a, sub_b = await _subscribe(bus_a), await _subscribe(bus_b)
    # Delivered once and never settled (its holder stalled), then again to each replica
    # in turn once the ack wait ran out: both hold a redelivery of the same message.
    first = await eventually(lambda: _next(sub_a), lambda m: m is not None)
    held_a = await eventually(lambda: _next(sub_a), lambda m: m is not None)
    held_b = await eventually(lambda: _next(sub_b), lambda m: m is not None)
    assert first is not None and held_a is not None and held_b is not None
    assert held_a.metadata.sequence.stream == held_b.metadata.sequence.stream
    assert (held_a.metadata.num_delivered, held_b.metadata.num_delivered) == (2, 3)

    outcomes = await asyncio.gather(_settle(worker_a, held_a), _settle(worker_b, held_b))

    assert len(receiver.requests) == 1 and receiver.requests[0].status == 200
    # The one that lost either saw the send recorded (ack) or the claim held (retry).
    assert "ack" in outcomes
    # The loser's nak is void once the winner acked; if it came first, the message comes
    # back, finds the send recorded and is acked. Either way the consumer ends settled.
    await eventually(lambda: _settled(sub_b, worker_b), lambda done: done)
    assert len(receiver.requests) == 1


async def _settled(sub: JetStreamContext.PullSubscription, worker: DeliveryWorker) -> bool:
    """Handle whatever comes back (it must send nothing); True once nothing is pending."""
    msg = await _next(sub)
    if msg is not None:
        assert await _settle(worker, msg) == "ack"
    info = await sub.consumer_info()
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_claim_whose_holder_went_away_is_taken_over_and_sent(
    replicas: tuple[HttpReceiver, list[tuple[Bus, DeliveryWorker]]],
) -> None:
    receiver, [(bus, worker), _] = replicas
    n = _notification()
    await _publish(bus, n)
    # A replica claimed the webhook long ago and died before sending it.
    await bus.deliveries.create(f"{n.id}.0", b"claimed 1000000")
    sub = await _subscribe(bus)
    await eventually(lambda: _next(sub), lambda m: m is not None)  # never settled
    redelivered = await eventually(lambda: _next(sub), lambda m: m is not None)
    assert redelivered is not None
    assert await _settle(worker, redelivered) == "ack"
    assert [r.status for r in receiver.requests] == [200]
    assert (await bus.deliveries.get(f"{n.id}.0")).value == b"1"


async def test_a_live_claim_keeps_another_replica_from_sending(
    replicas: tuple[HttpReceiver, list[tuple[Bus, DeliveryWorker]]],
) -> None:
    receiver, [(bus, worker), _] = replicas
    n = _notification()
    await _publish(bus, n)
    far = int((datetime.now(UTC).timestamp() + 3600) * 1_000_000)
    await bus.deliveries.create(f"{n.id}.0", f"claimed {far}".encode())
    sub = await _subscribe(bus)
    await eventually(lambda: _next(sub), lambda m: m is not None)
    redelivered = await eventually(lambda: _next(sub), lambda m: m is not None)
    assert redelivered is not None
    with pytest.raises(Retry):
        await worker.handle(redelivered)
    assert receiver.requests == []
