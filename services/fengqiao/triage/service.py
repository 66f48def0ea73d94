"""The triage app: wires the bus handlers (`worker.py`) and the gRPC API `TriageService`
(`servicer.py`) to NATS and gRPC, around the policy engine and its watch."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from fengqiao.platform import topology
from fengqiao.platform.bus import Bus
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.policies import PolicyStore
from fengqiao.platform.settings import Settings
from fengqiao.triage.policy_follow import PolicyFollower, start_runner
from fengqiao.triage.runner import PolicyRunner
from fengqiao.triage.servicer import TriageServicer
from fengqiao.triage.worker import TriageWorker
from fengqiao.v1 import triage_pb2, triage_pb2_grpc

SERVICE_NAME = triage_pb2.DESCRIPTOR.services_by_name["TriageService"].full_name


@dataclass
class TriageApp:
    """Triage as started: its policy engine, gRPC server, consumers and policy watch,
    stopped together."""

    name: str
    port: int
    _runner: PolicyRunner
    _follower: PolicyFollower
    # Everything started, stopped in reverse order: the policy watch, the consumers, the
    # gRPC server, the engine thread.
    _running: contextlib.AsyncExitStack

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> TriageApp:
        """Start the policy engine, the gRPC server, the consumers and the policy watch; a
        start failing half way stops what it had started (no gRPC server is left bound)."""
        async with contextlib.AsyncExitStack() as running:
            store = PolicyStore(bus.policies)
            runner = await start_runner(store, settings.policy_file)
            running.callback(runner.close)
            follower = PolicyFollower(store, runner)
            servicer = TriageServicer(runner, store, bus.js)
            server = await GrpcServer.start(
                settings.triage_addr,
                lambda s: triage_pb2_grpc.add_TriageServiceServicer_to_server(servicer, s),
                [SERVICE_NAME],
                settings.grpc_tls,
            )
            running.push_async_callback(server.stop)
            worker = TriageWorker(bus, runner)
            for consumer in await topology.bind(bus.js, topology.TRIAGE, worker):
                running.push_async_callback(consumer.stop)
            # Started last; the watch begins with the version active now, so nothing
            # published meanwhile is missed.
            watch = asyncio.create_task(follower.follow(), name="policy-follow")
            running.push_async_callback(_cancel, watch)
            return cls("triage", server.port, runner, follower, running.pop_all())

    @property
    def policy_version(self) -> str:
        """The version this replica decides with now."""
        return self._runner.current.version

    async def reload(self) -> None:
        """Read the active policy version from the bus again (SIGHUP)."""
        await self._follower.sync()

    async def stop(self) -> None:
        await self._running.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
