"""A service whose NATS is not there says so and exits, within the wait it was given, and
stops at once when told to while it waits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

from tests.conftest import ROOT


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_intake(wait_seconds: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "FENGQIAO_NATS_URL": f"nats://127.0.0.1:{closed_port()}",
        "FENGQIAO_NATS_CONNECT_WAIT_SECONDS": wait_seconds,
        "FENGQIAO_INTAKE_ADDR": "127.0.0.1:0",
        "FENGQIAO_LOG_FORMAT": "json",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "intake", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_no_nats_within_the_wait_is_an_exit_saying_what_to_check() -> None:
    process = await start_intake("1")
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    assert process.returncode == 1
    message = err.decode().strip().splitlines()[-1]
    assert message.startswith("无法连接消息总线（NATS）: cannot reach NATS at nats://127.0.0.1:")
    assert "within 1s" in message and "FENGQIAO_NATS_URL" in message


async def test_sigterm_while_waiting_for_nats_stops_the_service_at_once() -> None:
    process = await start_intake("600")
    assert process.stderr is not None
    async with asyncio.timeout(30):
        async for raw in process.stderr:  # the first failed attempt: it is waiting now
            if json.loads(raw)["event"] == "nats_error":
                break
        process.send_signal(signal.SIGTERM)
        rest = (await process.stderr.read()).decode()
        code = await process.wait()
    assert code == 0
    assert [json.loads(line)["event"] for line in rest.splitlines()][-1] == "start_abandoned"
