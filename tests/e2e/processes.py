"""Run fengqiao services as real, separate processes and read their JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import POLICY, ROOT


@dataclass
class ServiceProcess:
    name: str
    process: asyncio.subprocess.Process
    port: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        name: str,
        nats_url: str,
        policy: Path | None = POLICY,
        extra: dict[str, str] | None = None,
        log_level: str = "info",
        *,
        command: Sequence[str] = (sys.executable, "-m", "fengqiao"),
        base_env: Mapping[str, str] | None = None,
        listen: str | None = "127.0.0.1:0",
    ) -> ServiceProcess:
        """Start `python -m fengqiao NAME` on a free port; return once it serves.
        `command` runs another `fengqiao` (the image's, in a chroot) in `base_env` instead of
        this one's environment; `listen` None and `policy` None keep what that environment
        configures."""
        env = {
            **(os.environ if base_env is None else base_env),
            # Its own read-model database, unless the test shares one on purpose.
            "FENGQIAO_DATA_DIR": tempfile.mkdtemp(prefix="fengqiao-e2e-"),
            **(extra or {}),
            "FENGQIAO_NATS_URL": nats_url,
            **({f"FENGQIAO_{name.upper()}_ADDR": listen} if listen else {}),
            **({"FENGQIAO_POLICY_FILE": str(policy)} if policy else {}),
            "FENGQIAO_LOG_FORMAT": "json",
            "FENGQIAO_LOG_LEVEL": log_level,
        }
        process = await asyncio.create_subprocess_exec(
            *command, name, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        service = cls(name, process)
        started = asyncio.get_running_loop().create_future()
        service._reader = asyncio.create_task(service._read(started))
        async with asyncio.timeout(30):
            service.port = await started
        return service

    async def _read(self, started: asyncio.Future[int]) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                line = {"event": "unparsed", "text": raw.decode(errors="replace")}
            self.logs.append(line)
            if line.get("event") == "service_started" and not started.done():
                started.set_result(int(line["port"]))
        if not started.done():
            started.set_exception(RuntimeError(f"{self.name} exited: {self.logs[-5:]}"))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("event") == name]

    def kill(self) -> None:
        self.process.kill()

    async def stop(self) -> int:
        """SIGTERM, then the exit status once it has stopped."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await self.process.wait()
            if self._reader is not None:
                await self._reader
        return code


SERVICES = ("intake", "triage", "notification")


@asynccontextmanager
async def three_services(
    nats_url: str, extra: dict[str, str] | None = None, log_level: str = "info"
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """intake, triage and notification as processes of their own, stopped after."""
    started = await asyncio.gather(
        *(ServiceProcess.start(n, nats_url, extra=extra, log_level=log_level) for n in SERVICES)
    )
    running = dict(zip(SERVICES, started, strict=True))
    try:
        yield running
    finally:
        for service in running.values():
            await service.stop()
