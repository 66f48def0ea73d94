"""The notification app: wires the bus handlers (`worker.py`, `delivery.py`) and the gRPC
API `NotificationService` (`servicer.py`) to NATS and gRPC."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from fengqiao.notification.channels import ChannelSettings, Sender
from fengqiao.notification.delivery import DeliveryWorker, RetryPolicy
from fengqiao.notification.directory import load_directory
from fengqiao.notification.servicer import NotificationServicer
from fengqiao.notification.worker import NotificationWorker
from fengqiao.platform import topology
from fengqiao.platform.bus import Bus
from fengqiao.platform.grpc_server import GrpcServer
from fengqiao.platform.settings import Settings
from fengqiao.policy import PolicyError
from fengqiao.readmodel import DELIVERIES, NOTIFICATIONS, ReadModel
from fengqiao.v1 import notification_pb2, notification_pb2_grpc

log = structlog.get_logger()

SERVICE_NAME = notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name


@dataclass
class NotificationApp:
    """Notification as started: its read model, gRPC server, HTTP client and consumers,
    stopped together."""

    name: str
    port: int
    _delivery: DeliveryWorker
    _directory_file: Path
    # Everything started, stopped in reverse order: the consumers, the HTTP client, the
    # gRPC server, the read model.
    _running: contextlib.AsyncExitStack

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> NotificationApp:
        """Start the read model, the gRPC server and the consumers; a start failing half
        way (a directory with problems, say) stops what it had started (no gRPC server is
        left bound)."""
        async with contextlib.AsyncExitStack() as running:
            reads = await ReadModel.start(bus, settings, [NOTIFICATIONS, DELIVERIES])
            running.push_async_callback(reads.stop)
            servicer = NotificationServicer(bus, reads)
            server = await GrpcServer.start(
                settings.notification_addr,
                lambda s: notification_pb2_grpc.add_NotificationServiceServicer_to_server(
                    servicer, s
                ),
                [SERVICE_NAME],
                settings.grpc_tls,
            )
            running.push_async_callback(server.stop)
            worker = NotificationWorker(bus)
            directory = load_directory(settings.directory_file)
            client = httpx.AsyncClient()
            running.push_async_callback(client.aclose)
            sender = Sender(
                ChannelSettings(
                    webhook_secret=settings.webhook_secret,
                    smtp_host=settings.smtp_host,
                    smtp_port=settings.smtp_port,
                    smtp_sender=settings.smtp_sender,
                    sms_gateway_url=settings.sms_gateway_url,
                    sms_secret=settings.sms_secret,
                ),
                client,
            )
            if not settings.sms_gateway_url and not settings.nats_embedded:
                # Beyond the demo, this means parties without email are told only in the log.
                log.warning(
                    "sms_gateway_missing",
                    detail="FENGQIAO_SMS_GATEWAY_URL is not set: SMS to parties is written to "
                    "the log instead of sent",
                )
            retry = RetryPolicy(settings.delivery_attempts, settings.delivery_backoff_seconds)
            delivery = DeliveryWorker(bus, directory, sender, retry)
            consumers = await topology.bind(bus.js, topology.NOTIFICATION, worker, delivery)
            for consumer in consumers:
                running.push_async_callback(consumer.stop)
            return cls(
                "notification",
                server.port,
                delivery,
                settings.directory_file,
                running.pop_all(),
            )

    async def reload(self) -> None:
        """Read the directory again (SIGHUP); one with problems changes nothing."""
        path = self._directory_file
        try:
            directory = await asyncio.to_thread(load_directory, path)
        except PolicyError as exc:
            log.error(
                "directory_reload_failed",
                file=str(path),
                problems=[p.format(exc.source) for p in exc.problems],
            )
            return
        self._delivery.use_directory(directory)
        log.info("directory_reloaded", file=str(path), contacts=len(directory.contacts))

    async def stop(self) -> None:
        await self._running.aclose()
