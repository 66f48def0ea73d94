"""Wires IntakeService to gRPC and NATS."""

from __future__ import annotations

from dataclasses import dataclass

from fengqiao.domain.model import DisputeRecord
from fengqiao.intake.servicer import IntakeServicer
from fengqiao.platform.bus import Bus
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.projection import Projection
from fengqiao.platform.settings import Settings
from fengqiao.platform.store import dispute_index
from fengqiao.v1 import intake_pb2, intake_pb2_grpc

SERVICE_NAME = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name


@dataclass
class IntakeService:
    name: str
    port: int
    _server: GrpcServer
    _index: Projection[DisputeRecord]

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> IntakeService:
        index = dispute_index(bus)
        await index.start()
        servicer = IntakeServicer(bus, index)
        server = await GrpcServer.start(
            settings.intake_addr,
            lambda s: intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            settings.grpc_tls,
        )
        return cls("intake", server.port, server, index)

    async def stop(self) -> None:
        await self._server.stop()
        await self._index.stop()
