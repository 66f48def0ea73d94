"""Declaring streams: brought up to date when configured otherwise, left alone when they
already match, so a service on a secured bus never needs to change one."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from fengqiao.platform.bus import NOTIFY, NOTIFY_MAX_AGE_SECONDS, NOTIFY_STREAM, connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.nats_client import open_connection


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
