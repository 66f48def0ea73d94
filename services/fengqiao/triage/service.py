"""Wires the triage consumer and TriageService to NATS and gRPC."""

from __future__ import annotations

from dataclasses import dataclass

from fengqiao.platform.bus import CONSUMER_TRIAGE, SUBMITTED, Bus
from fengqiao.platform.consume import Consumer
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
    _consumer: Consumer

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> TriageService:
        runner = await PolicyRunner.load(settings.policy_file)
        servicer = TriageServicer(runner)
        server = await GrpcServer.start(
            settings.triage_addr,
            lambda s: triage_pb2_grpc.add_TriageServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
        consumer = await Consumer.start(
            bus.js, CONSUMER_TRIAGE, f"{SUBMITTED}.*", TriageWorker(bus, runner).handle
        )
        return cls("triage", server.port, server, runner, consumer)

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._server.stop()
        self._runner.close()
