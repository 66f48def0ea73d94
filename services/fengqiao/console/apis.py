"""The console's clients: the three services' gRPC APIs, over one channel each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fengqiao.platform.settings import Settings
from fengqiao.v1 import (
    intake_pb2_grpc,
    notification_pb2_grpc,
    triage_pb2_grpc,
)


@dataclass(frozen=True, slots=True)
class Apis:
    intake: intake_pb2_grpc.IntakeServiceAsyncStub
    notification: notification_pb2_grpc.NotificationServiceAsyncStub
    triage: triage_pb2_grpc.TriageServiceAsyncStub

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Apis]:
        """Channels to the addresses in `settings`, with its TLS; closed on exit."""
        async with AsyncExitStack() as channels:
            intake, notification, triage = [
                await channels.enter_async_context(settings.grpc_tls.channel(addr))
                for addr in (
                    settings.intake_addr,
                    settings.notification_addr,
                    settings.triage_addr,
                )
            ]
            yield cls(
                intake_pb2_grpc.IntakeServiceStub(intake),
                notification_pb2_grpc.NotificationServiceStub(notification),
                triage_pb2_grpc.TriageServiceStub(triage),
            )
