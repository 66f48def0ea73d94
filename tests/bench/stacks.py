"""The two systems under load, each as separate processes on a fresh nats-server: fengqiao
(`python -m fengqiao intake|triage|notification`, imported from a chosen source tree) and
the floor (`python -m tests.bench.floor …`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nats
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.bench import floor
from tests.bench.procs import (
    BenchError,
    NatsServer,
    Proc,
    Processes,
    free_port,
    python_argv,
    service_env,
    start_nats,
)

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0  # three Pythons importing at once on two shared cores


@dataclass
class Stack:
    nats: NatsServer
    services: list[Proc]
    intake: str  # host:port of the (one) intake

    @property
    def procs(self) -> list[Proc]:
        return [self.nats.proc, *self.services]

    def named(self, role: str) -> list[Proc]:
        return [p for p in self.services if p.role == role]


def _names(role: str, count: int) -> list[str]:
    return [role if i == 0 else f"{role}-{i + 1}" for i in range(count)]


async def start_fengqiao(
    processes: Processes,
    source: Path,
    tmp: Path,
    replicas: Mapping[str, int],
    extra_env: Mapping[str, str],
) -> Stack:
    """nats-server, then each service (`replicas` of each role) as its own process, with the
    policy and directory of `source`, logging warnings only; returns once each serves."""
    server = await start_nats(processes, tmp / "nats", "nats-server")
    common = {
        "FENGQIAO_NATS_URL": server.url,
        "FENGQIAO_LOG_LEVEL": "warning",
        "FENGQIAO_LOG_FORMAT": "json",
        "FENGQIAO_POLICY_FILE": str(source / "rules" / "triage.yaml"),
        "FENGQIAO_DIRECTORY_FILE": str(source / "rules" / "directory.yaml"),
        **extra_env,
    }
    services: list[tuple[Proc, str]] = []
    for role in ("intake", "triage", "notification"):
        for name in _names(role, replicas.get(role, 1)):
            target = f"127.0.0.1:{free_port()}"
            env = service_env(
                source,
                common
                | {
                    f"FENGQIAO_{role.upper()}_ADDR": target,
                    # Each process its own files, as each container has.
                    "FENGQIAO_DATA_DIR": str(tmp / f"data-{name}"),
                },
            )
            argv = python_argv("-m", "fengqiao", role)
            proc = processes.start(name, role, argv, tmp / f"{name}.log", env=env, cwd=source)
            services.append((proc, target))
    await asyncio.gather(*(serving(proc, target) for proc, target in services))
    intake = next(target for proc, target in services if proc.role == "intake")
    return Stack(server, [proc for proc, _ in services], intake)


async def serving(proc: Proc, target: str) -> None:
    """Until the gRPC health service at `target` says SERVING."""
    deadline = time.monotonic() + START_SECONDS
    async with grpc.aio.insecure_channel(target) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if not proc.alive:
                raise BenchError(f"{proc.name} exited at start:\n{proc.log_tail()}")
            try:
                answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1)
                continue
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return
            await asyncio.sleep(0.1)
    raise BenchError(f"{proc.name} not serving within {START_SECONDS:g}s:\n{proc.log_tail()}")


async def start_floor(processes: Processes, tmp: Path) -> Stack:
    server = await start_nats(processes, tmp / "nats", "nats-server")
    nc = await nats.connect(server.url, name="bench-setup")
    try:
        await floor.declare(nc.jetstream())
    finally:
        await nc.close()
    port = free_port()
    procs = []
    for role in floor.ROLES:
        argv = python_argv("-m", "tests.bench.floor", role, "--nats", server.url)
        if role == "intake":
            argv += ["--port", str(port)]
        procs.append(
            processes.start(f"floor-{role}", role, argv, tmp / f"floor-{role}.log", cwd=ROOT)
        )
    await asyncio.gather(*(_ready(p) for p in procs))
    return Stack(server, procs, f"127.0.0.1:{port}")


async def _ready(proc: Proc) -> None:
    """Until the floor process has written `ready` (its output goes to its log)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if "ready" in proc.log_tail(5).splitlines():
            return
        if not proc.alive:
            raise BenchError(f"{proc.name} exited at start:\n{proc.log_tail()}")
        await asyncio.sleep(0.05)
    raise BenchError(f"{proc.name} not ready within {START_SECONDS:g}s:\n{proc.log_tail()}")


def describe(procs: Sequence[Proc]) -> str:
    return ", ".join(f"{p.name} (pid {p.pid})" for p in procs)
