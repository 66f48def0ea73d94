"""Wires IntakeService to gRPC, NATS and the read model of the `disputes` bucket, and runs
the sweeper that announces disputes stored without their `submitted` fact."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from fengqiao.intake.servicer import IntakeServicer
from fengqiao.intake.sweeper import Sweeper
from fengqiao.platform.bus import Bus
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.settings import Settings
from fengqiao.readmodel import DISPUTES, ReadModel
from fengqiao.v1 import intake_pb2, intake_pb2_grpc

SERVICE_NAME = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].full_name


@dataclass
class IntakeService:
    name: str
    port: int
    _server: GrpcServer
    _reads: ReadModel
    _sweeping: asyncio.Task[None]
    _stop_sweeping: asyncio.Event

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> IntakeService:
        reads = await ReadModel.start(bus, settings, [DISPUTES])
        try:
            servicer = IntakeServicer(bus, reads)
            server = await GrpcServer.start(
                settings.intake_addr,
                lambda s: intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, s),
                [SERVICE_NAME],
                settings.grpc_tls,
            )
        except BaseException:
            await reads.stop()
            raise
        sweeper = Sweeper(bus, reads, settings.sweep_seconds)
        stop = asyncio.Event()
        sweeping = asyncio.create_task(sweeper.run(stop), name="sweep-stranded")
        return cls("intake", server.port, server, reads, sweeping, stop)

    async def stop(self) -> None:
        self._stop_sweeping.set()
        self._sweeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sweeping
        await self._server.stop()
        await self._reads.stop()
