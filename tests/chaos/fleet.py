"""The services of a chaos run, each a `python -m fengqiao ROLE` process of its own that
can be killed, restarted on the same address and data directory, or stopped and
continued (SIGSTOP/SIGCONT: a process cut off from the bus without knowing it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.procs import Proc, Processes, free_port, python_argv, service_env
from tests.bench.stacks import ROOT, serving

ROLES = ("intake", "triage", "notification")
SWEEP_SECONDS = 5
# Errors worth a line in the report when a service logged them (JSON logs, level warning+).
_EVENT = re.compile(r'"event": ?"([a-z_]+)"')


@dataclass
class Service:
    name: str
    role: str
    target: str
    env: dict[str, str]
    log: Path
    proc: Proc | None = None
    kills: int = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@dataclass
class Fleet:
    processes: Processes
    services: list[Service] = field(default_factory=list)
    stopped: set[int] = field(default_factory=set)

    @classmethod
    def plan(
        cls,
        processes: Processes,
        tmp: Path,
        nats_url: str,
        replicas: int,
        settings: dict[str, str],
    ) -> Fleet:
        fleet = cls(processes)
        for role in ROLES:
            for i in range(replicas):
                name = role if i == 0 else f"{role}-{i + 1}"
                target = f"127.0.0.1:{free_port()}"
                env = service_env(
                    ROOT,
                    {
                        "FENGQIAO_NATS_URL": nats_url,
                        "FENGQIAO_LOG_LEVEL": "warning",
                        "FENGQIAO_LOG_FORMAT": "json",
                        f"FENGQIAO_{role.upper()}_ADDR": target,
                        # Each process its own read model, as each container has.
                        "FENGQIAO_DATA_DIR": str(tmp / f"data-{name}"),
                        # A dispute stored but not announced is found within seconds.
                        "FENGQIAO_SWEEP_SECONDS": str(SWEEP_SECONDS),
                        **settings,
                    },
                )
                fleet.services.append(Service(name, role, target, env, tmp / f"{name}.log"))
        return fleet

    def of(self, role: str) -> list[Service]:
        return [s for s in self.services if s.role == role]

    @property
    def intakes(self) -> list[str]:
        return [s.target for s in self.of("intake")]

    async def start_all(self) -> None:
        await asyncio.gather(*(self.start(s) for s in self.services))

    async def start(self, service: Service) -> None:
        argv = python_argv("-m", "fengqiao", service.role)
        service.proc = self.processes.start(
            service.name, service.role, argv, service.log, env=service.env, cwd=ROOT
        )
        await serving(service.proc, service.target)

    async def kill_and_restart(self, service: Service) -> None:
        """SIGKILL, then the same service again; returns once it serves."""
        proc = service.proc
        assert proc is not None
        proc.popen.kill()
        await asyncio.to_thread(proc.popen.wait)
        self.processes.stop([proc])
        service.kills += 1
        await self.start(service)

    async def cut_off(self, service: Service, seconds: float) -> None:
        """SIGSTOP for `seconds` (the fault itself is a span of time), then SIGCONT."""
        os.kill(service.pid, signal.SIGSTOP)
        self.stopped.add(service.pid)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.resume_all()

    def resume_all(self) -> None:
        """SIGCONT whatever is stopped, so that it can be stopped properly on exit."""
        for pid in list(self.stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self.stopped.discard(pid)

    def logged(self) -> Counter[str]:
        """How often each event was logged at warning or above, over every process."""
        seen: Counter[str] = Counter()
        for service in self.services:
            try:
                text = service.log.read_text(errors="replace")
            except OSError:
                continue
            seen.update(_EVENT.findall(text))
        return seen
