"""The intake app: wires the gRPC API `IntakeService` (`servicer.py`) to NATS and the read
model of the `disputes` bucket, and runs the sweeper that announces disputes stored
without their `submitted` fact."""

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
class IntakeApp:
    """Intake as started: its read model, gRPC server and sweeper, stopped together."""

    name: str
    port: int
    # Everything started, stopped in reverse order: sweeper, gRPC server, read model.
    _running: contextlib.AsyncExitStack

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> IntakeApp:
        """Start the read model, the gRPC server and the sweeper; a start failing half way
        stops what it had started (no gRPC server is left bound)."""
        async with contextlib.AsyncExitStack() as running:
            reads = await ReadModel.start(bus, settings, [DISPUTES])
            running.push_async_callback(reads.stop)
            servicer = IntakeServicer(bus, reads)
            server = await GrpcServer.start(
                settings.intake_addr,
                lambda s: intake_pb2_grpc.add_IntakeServiceServicer_to_server(servicer, s),
                [SERVICE_NAME],
                settings.grpc_tls,
            )
            running.push_async_callback(server.stop)
            sweeper = Sweeper(bus, reads, settings.sweep_seconds)
            stop = asyncio.Event()
            sweeping = asyncio.create_task(sweeper.run(stop), name="sweep-stranded")
            running.push_async_callback(_stop_sweeping, sweeping, stop)
            return cls("intake", server.port, running.pop_all())

    async def stop(self) -> None:
        await self._running.aclose()


async def _stop_sweeping(sweeping: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    sweeping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeping
