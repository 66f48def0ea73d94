"""The trimmed nats-py client against a real nats-server: each request gets its own
answer, a timeout and a cancellation leave nothing behind, and a pull fetch hands over
every message in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.nats_client import open_connection
from fengqiao.platform.nats_lean import Client


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await open_connection(nats_server.url, "test")
    assert isinstance(client, Client)
    try:
        yield client
    finally:
        await client.close()


async def test_concurrent_requests_each_get_their_own_answer(nc: Client) -> None:
    async def echo(msg: Msg) -> None:
        await msg.respond(b"re:" + msg.data)

    await nc.subscribe("lean.echo", cb=echo)
    answers = await asyncio.gather(
        *(nc.request("lean.echo", str(n).encode(), timeout=5) for n in range(500))
    )
    assert [a.data for a in answers] == [f"re:{n}".encode() for n in range(500)]
    assert nc._resp_map == {}


async def test_an_unanswered_request_times_out_and_leaves_nothing(nc: Client) -> None:
    await nc.subscribe("lean.silent", cb=_ignore)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(nats.errors.TimeoutError):
        await nc.request("lean.silent", b"?", timeout=0.2)
    assert 0.15 < loop.time() - started < 2
    assert nc._resp_map == {}


async def test_a_cancelled_request_leaves_nothing(nc: Client) -> None:
    asked = asyncio.Event()

    async def hear(msg: Msg) -> None:
        asked.set()

    await nc.subscribe("lean.silent", cb=hear)
    request = asyncio.create_task(nc.request("lean.silent", b"?", timeout=30))
    await asked.wait()
    assert len(nc._resp_map) == 1
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert nc._resp_map == {}


async def test_no_responders_is_still_said(nc: Client) -> None:
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request("lean.nobody", b"?", timeout=2)


async def test_a_fetch_hands_over_every_message_in_order(nc: Client) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="LEAN", subjects=["lean.s.>"]))
    for n in range(300):
        await js.publish(f"lean.s.{n % 7}", str(n).encode())
    sub = await js.pull_subscribe("lean.s.>", durable="lean")
    got: list[int] = []
    while len(got) < 300:
        msgs = await sub.fetch(64, timeout=2)
        got += [int(m.data) for m in msgs]
        await asyncio.gather(*(m.ack() for m in msgs))
    assert got == list(range(300))
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.2)  # nothing left: the slow path's timeout


async def _ignore(msg: Msg) -> None:
    del msg
