"""Wires the triage consumer and TriageService to NATS and gRPC."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from fengqiao.platform import timers
from fengqiao.platform.bus import (
    CONSUMER_TRIAGE,
    CONSUMER_TRIAGE_EVENTS,
    CONSUMER_TRIAGE_TIMERS,
    EVENTS,
    SUBMITTED,
    TIMER,
    Bus,
)
from fengqiao.platform.consume import Consumer
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.settings import Settings
from fengqiao.triage.policy_watch import PolicyWatch
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
    _policy_file: Path
    _watch: asyncio.Task[None] | None

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> TriageService:
        runner = await PolicyRunner.load(settings.policy_file)
        servicer = TriageServicer(runner)
        server = await GrpcServer.start(
            settings.triage_addr,
            lambda s: triage_pb2_grpc.add_TriageServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
            settings.grpc_tls,
        )
        worker = TriageWorker(bus, runner)
        consumers = [
            await Consumer.start(
                bus.js, CONSUMER_TRIAGE, f"{SUBMITTED}.*", worker.handle_submitted
            ),
            await Consumer.start(
                bus.js, CONSUMER_TRIAGE_EVENTS, f"{EVENTS}.*", worker.handle_event
            ),
            *[
                await Consumer.start(
                    bus.js,
                    f"{CONSUMER_TRIAGE_TIMERS}-{timer}",
                    f"{TIMER}.{timer}.>",
                    worker.handle_timer,
                )
                for timer in (timers.DEADLINE, timers.RESPONSE)
            ],
        ]
        watch = None
        if settings.policy_reload_seconds > 0:
            watch = asyncio.create_task(
                PolicyWatch(runner, settings.policy_file).run(settings.policy_reload_seconds)
            )
        return cls("triage", server.port, server, runner, consumers, settings.policy_file, watch)

    async def reload(self) -> None:
        """Put the policy file in force again (SIGHUP)."""
        await self._runner.reload(self._policy_file)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        for consumer in self._consumers:
            await consumer.stop()
        await self._server.stop()
        self._runner.close()
