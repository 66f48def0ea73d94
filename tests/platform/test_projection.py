"""The read model behind listing and statistics: each change decoded once, every
acknowledged write visible to the next read, and a scan when it cannot keep up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from fengqiao.platform.bus import KV_REQUESTS, Bus
from fengqiao.platform.projection import Projection


class Counting:
    """A decoder that remembers what it was asked to decode."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __call__(self, data: bytes) -> str:
        self.calls.append(data)
        if data == b"unreadable":
            raise ValueError("not a record")
        return data.decode()


@pytest.fixture
async def model(bus: Bus) -> AsyncIterator[tuple[Projection[str], Counting]]:
    decode = Counting()
    # Any bucket will do: the model knows nothing of what the values mean.
    projection = Projection(bus.js, KV_REQUESTS, decode)
    await projection.start()
    try:
        yield projection, decode
    finally:
        await projection.stop()


async def test_every_acknowledged_write_is_in_the_next_read_and_decoded_once(
    bus: Bus, model: tuple[Projection[str], Counting]
) -> None:
    projection, decode = model
    for i in range(50):
        await bus.requests.put(f"k{i}", f"v{i}".encode())
    assert sorted(await projection.values()) == sorted(f"v{i}" for i in range(50))
    await bus.requests.put("k7", b"changed")
    await bus.requests.delete("k8")
    values = await projection.values()
    assert "changed" in values and "v7" not in values and "v8" not in values
    assert len(values) == 49
    await projection.values()
    assert len(decode.calls) == 51  # 50 values and one change; reads decode nothing


async def test_an_unreadable_value_is_logged_and_the_rest_still_read(
    bus: Bus, model: tuple[Projection[str], Counting]
) -> None:
    projection, _ = model
    with capture_logs() as logs:
        await bus.requests.put("bad", b"unreadable")
        await bus.requests.put("good", b"fine")
        assert await projection.values() == ["fine"]
    assert [e["key"] for e in logs if e["event"] == "projection_value_unreadable"] == ["bad"]


async def test_a_model_that_stopped_following_falls_back_to_a_scan(
    bus: Bus, model: tuple[Projection[str], Counting]
) -> None:
    projection, _ = model
    await bus.requests.put("before", b"one")
    assert await projection.values() == ["one"]
    await projection.stop()
    await bus.requests.put("after", b"two")
    with capture_logs() as logs:
        assert sorted(await projection.values()) == ["one", "two"]
    assert [e["event"] for e in logs] == ["projection_behind"]
