"""The live feed (/live): one Server-Sent Event per revision of a dispute, its id the
stream sequence; a reconnect with Last-Event-ID resumes after it; a gap too long to
replay says `reset`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest

from fengqiao.console import live
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2_grpc
from tests.conftest import sample
from tests.console.conftest import signed_in


async def _frames(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, query: str = ""
) -> AsyncIterator[dict[str, Any]]:
    """Each frame of /live as {"id", "event", "data"} (comments and `retry` left out)."""
    async with client.stream(
        "GET", f"/live{query}", headers={"accept": "text/event-stream", **(headers or {})}
    ) as response:
        assert response.status_code == 200
        frame: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if not line:
                if "event" in frame:
                    yield frame
                frame = {}
            elif line.startswith(("id: ", "event: ", "data: ")):
                key, _, value = line.partition(": ")
                frame[key] = json.loads(value) if key == "data" else value


async def _submit(stack: Stack, prefix: str) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        done = await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(sample(prefix))
    return done.dispute_id


async def test_a_reconnect_resumes_after_the_last_event_seen(console_stack: Stack) -> None:
    async with signed_in(console_stack, "viewer") as client:
        client.timeout = httpx.Timeout(30)
        first = await _submit(console_stack, "01")
        seen = None
        async for frame in _frames(client, query="?after=0"):
            if frame["data"]["id"] == first:
                seen = int(frame["id"])
                break
        assert seen is not None
        second = await _submit(console_stack, "02")  # while no page is connected
        resumed = []
        async for frame in _frames(client, headers={"last-event-id": str(seen)}):
            resumed.append(frame)
            if frame["data"]["id"] == second:
                break
        assert all(int(f["id"]) > seen for f in resumed)
        assert [f["id"] for f in resumed] == sorted(f["id"] for f in resumed)
        assert resumed[-1]["data"]["id"] == second
        assert '<tr id="row-' in resumed[-1]["data"]["html"]


async def test_a_gap_too_long_to_replay_is_a_reset(
    console_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "MAX_REPLAY", 1)
    for prefix in ("01", "02", "03"):
        await _submit(console_stack, prefix)
    async with signed_in(console_stack, "viewer") as client:
        client.timeout = httpx.Timeout(30)
        async for frame in _frames(client, headers={"last-event-id": "0"}):
            assert frame["event"] == "reset"
            break
