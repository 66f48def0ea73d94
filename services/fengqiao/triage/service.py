"""Wires the triage consumer and TriageService to NATS and gRPC."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fengqiao.platform import topology
from fengqiao.platform.bus import Bus
from fengqiao.platform.consume import Consumer
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
class TriageService:
    name: str
    port: int
    _server: GrpcServer
    _runner: PolicyRunner
    _consumers: list[Consumer]
    _follower: PolicyFollower
    _watch: asyncio.Task[None]

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> TriageService:
        store = PolicyStore(bus.policies)
        runner = await start_runner(store, settings.policy_file)
        follower = PolicyFollower(store, runner)
        servicer = TriageServicer(runner, store, bus.js)
        server = await GrpcServer.start(
            settings.triage_addr,
            lambda s: triage_pb2_grpc.add_TriageServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            settings.grpc_tls,
        )
        worker = TriageWorker(bus, runner)
        consumers = await topology.bind(bus.js, topology.TRIAGE, worker)
        # Started last, so a failed start leaves no task behind; the watch begins with the
        # version active now, so nothing published meanwhile is missed.
        watch = asyncio.create_task(follower.follow(), name="policy-follow")
        return cls("triage", server.port, server, runner, consumers, follower, watch)

    @property
    def policy_version(self) -> str:
        """The version this replica decides with now."""
        return self._runner.current.version

    async def reload(self) -> None:
        """Read the active policy version from the bus again (SIGHUP)."""
        await self._follower.sync()

    async def stop(self) -> None:
        self._watch.cancel()
        await asyncio.gather(self._watch, return_exceptions=True)
        for consumer in self._consumers:
            await consumer.stop()
        await self._server.stop()
        self._runner.close()
