"""The embedded nats-server lives and dies with the fengqiao process that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.support import eventually

# Starts an embedded server on uvloop (as every command does), prints its pid, then waits.
_STARTER = """
import asyncio, sys, uvloop
from pathlib import Path
from fengqiao.platform.embedded_nats import EmbeddedNats

async def main() -> None:
    server = await EmbeddedNats.start(Path(sys.argv[1]))
    print(server.process.pid, flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


async def test_a_killed_parent_takes_its_server_with_it(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _STARTER, str(tmp_path / "nats"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert parent.stdout is not None
    async with asyncio.timeout(30):
        while not (line := await parent.stdout.readline()).strip().isdigit():
            assert line, "the starter ended without a server"
        server_pid = int(line)
    assert _alive(server_pid)
    # Not in the parent's process group: a terminal's Ctrl+C reaches fengqiao alone.
    assert os.getpgid(server_pid) != os.getpgid(parent.pid)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()

    async def alive() -> bool:
        return _alive(server_pid)

    assert await eventually(alive, lambda up: not up, within=15) is False
