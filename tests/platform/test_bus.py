"""Declaring streams: brought up to date when configured otherwise, left alone when they
already match, so a service on a secured bus never needs to change one."""

from __future__ import annotations

import socket

import pytest
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from fengqiao.domain.errors import NatsConnectError
from fengqiao.domain.kinds import EventKind
from fengqiao.platform import timers
from fengqiao.platform.bus import (
    KV_POLICIES,
    NOTIFY,
    NOTIFY_MAX_AGE_SECONDS,
    NOTIFY_STREAM,
    Bus,
    connect,
    dead_letter_subject,
    dead_letters_of,
    declared_buckets,
    declared_names,
    declared_streams,
    dispute_subjects,
    fact_subject,
    kv_history,
    kv_stream,
    kv_subject,
)
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.nats_client import open_connection, server_urls


def test_subjects_and_stream_names_are_the_deployed_ones() -> None:
    assert fact_subject(EventKind.SUBMITTED, "FQ-1") == "disputes.submitted.FQ-1"
    assert fact_subject(EventKind.ROUTED, "FQ-1") == "disputes.routed.FQ-1"
    assert fact_subject(EventKind.ESCALATED, "FQ-1") == "disputes.routed.FQ-1"
    assert fact_subject(EventKind.ACCEPTED, "FQ-1") == "disputes.events.FQ-1"
    assert dispute_subjects("FQ-1") == ("disputes.*.FQ-1", "disputes.*.*.FQ-1.>")
    assert timers.fired_subject(timers.ACK, "FQ-1.e") == "disputes.timer.ack.FQ-1.e"
    assert timers.schedule_subject(timers.DEADLINE, "FQ-1.>") == "disputes.schedule.deadline.FQ-1.>"
    assert timers.key_of(timers.ACK, "disputes.timer.ack.FQ-1.e") == "FQ-1.e"
    assert dead_letter_subject("FQ-1.e.0a") == "dlq.notify.FQ-1.e.0a"
    assert dead_letters_of("FQ-1") == "dlq.notify.FQ-1.>"
    assert (kv_stream("disputes"), kv_subject("disputes", "FQ-1")) == (
        "KV_disputes",
        "$KV.disputes.FQ-1",
    )
    assert declared_streams() == ("DISPUTES", "NOTIFY", "NOTIFY_DLQ", "NOTIFY_STATUS")
    assert declared_names() == (*declared_streams(), *(f"KV_{b}" for b in declared_buckets()))


async def test_a_stream_is_updated_only_when_it_differs(nats_server: EmbeddedNats) -> None:
    monitor = await open_connection(nats_server.url, "monitor")
    changes: list[str] = []

    async def seen(msg: Msg) -> None:
        changes.append(msg.subject)

    await monitor.subscribe("$JS.API.STREAM.CREATE.>", cb=seen)
    await monitor.subscribe("$JS.API.STREAM.UPDATE.>", cb=seen)
    try:
        js = monitor.jetstream()
        # NOTIFY as a version before the feed expired: no max_age.
        await js.add_stream(StreamConfig(name=NOTIFY_STREAM, subjects=[f"{NOTIFY}.>"]))
        await js.publish(f"{NOTIFY}.x", b"kept")
        await monitor.flush()
        changes.clear()

        first = await connect(nats_server.url, "first")
        await first.close()
        await monitor.flush()  # every request of `first` has reached the monitor
        assert f"$JS.API.STREAM.UPDATE.{NOTIFY_STREAM}" in changes
        info = await js.stream_info(NOTIFY_STREAM)
        assert info.config.max_age == NOTIFY_MAX_AGE_SECONDS and info.state.messages == 1

        changes.clear()
        second = await connect(nats_server.url, "second")
        await second.close()
        await monitor.flush()
        assert changes == []
    finally:
        await monitor.close()


async def test_a_comma_separated_url_is_a_list_of_servers_tried_in_turn(
    nats_server: EmbeddedNats,
) -> None:
    """FENGQIAO_NATS_URL names every node of a cluster; a node that is away is skipped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        away = f"nats://127.0.0.1:{probe.getsockname()[1]}"
    assert server_urls(f" {away}, {nats_server.url} ,") == [away, nats_server.url]
    bus = await connect(f"{away},{nats_server.url}", "listed")
    try:
        assert bus.nc.connected_url is not None
        assert bus.nc.connected_url.port == nats_server.port
    finally:
        await bus.close()


async def test_setup_with_replicas_sets_the_copies_of_every_stream_and_bucket(
    nats_server: EmbeddedNats,
) -> None:
    """`bus setup --replicas N` reaches the KV buckets' streams too; a single node holds 1."""
    bus = await connect(nats_server.url, "operator", replicas=1)
    try:
        for name in declared_names():
            info = await bus.js.stream_info(name)
            assert info.config.num_replicas == 1, name
    finally:
        await bus.close()
    with pytest.raises(NatsConnectError, match="replicas"):
        await connect(nats_server.url, "operator", replicas=3)


async def test_a_keys_history_is_every_revision_kept_oldest_first(bus: Bus) -> None:
    """Read with a pull consumer: nats-py's `KeyValue.history` returned nothing when its
    pushed messages beat its consumer-info request (seen in CI on the retention test)."""
    for value in (b"one", b"two"):
        await bus.policies.put("k", value)
    await bus.policies.delete("k")
    await bus.policies.put("k", b"three")
    await bus.policies.put("other", b"x")
    for _ in range(20):  # every read whole, however the messages and the answers interleave
        assert await kv_history(bus.js, KV_POLICIES, "k") == [b"one", b"two", None, b"three"]
    assert await kv_history(bus.js, KV_POLICIES, "never") == []
