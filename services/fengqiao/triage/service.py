"""Wires the triage consumer and TriageService to NATS and gRPC."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fengqiao.platform.bus import CONSUMER_TRIAGE, SUBMITTED, Bus, pull_consumer
from fengqiao.platform.consume import consume
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.settings import Settings
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
    _stop: asyncio.Event
    _loop: asyncio.Task[None]

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> TriageService:
        runner = await PolicyRunner.load(settings.policy_file)
        servicer = TriageServicer(runner)
        server = await GrpcServer.start(
            settings.triage_addr,
            lambda s: triage_pb2_grpc.add_TriageServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
        sub = await pull_consumer(bus.js, CONSUMER_TRIAGE, f"{SUBMITTED}.*")
        stop = asyncio.Event()
        loop = asyncio.create_task(consume(sub, TriageWorker(bus, runner).handle, stop))
        return cls("triage", server.port, server, runner, stop, loop)

    async def stop(self) -> None:
        self._stop.set()
        await self._loop
        await self._server.stop()
        self._runner.close()
