"""Killing the notification process in the middle of a delivery sends nothing twice."""

from __future__ import annotations

from pathlib import Path

import grpc

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.v1 import intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.conftest import sample
from tests.e2e.processes import ServiceProcess
from tests.receivers import http_receiver
from tests.support import eventually

GRID = "甘州区/东街街道/南关社区/第3网格"


async def test_killed_mid_delivery_the_restarted_process_completes_it_once(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with http_receiver(hold_first=True) as receiver:
        directory = tmp_path / "directory.yaml"
        directory.write_text(
            f"contacts:\n  - role: grid_worker\n    where: {GRID}\n    channels:\n"
            f"      - webhook: http://127.0.0.1:{receiver.port}/hook\n",
            encoding="utf-8",
        )
        extra = {"FENGQIAO_DIRECTORY_FILE": str(directory)}
        intake = await ServiceProcess.start("intake", nats_server.url)
        triage = await ServiceProcess.start("triage", nats_server.url)
        notification = await ServiceProcess.start("notification", nats_server.url, extra=extra)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{intake.port}") as channel:
                stub = intake_pb2_grpc.IntakeServiceStub(channel)
                dispute_id = (await stub.SubmitDispute(sample("01"))).dispute_id

            async def requests() -> list[object]:
                return list(receiver.requests)

            await eventually(requests, lambda r: len(r) == 1)  # the webhook is in flight
            notification.kill()
            await notification.stop()
            notification = await ServiceProcess.start("notification", nats_server.url, extra=extra)
            # The unacknowledged message comes back after the consumer's ack wait (30 s).
            await eventually(lambda: _ok(receiver), lambda ok: len(ok) == 1, within=90)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{notification.port}") as channel:
                notify = notification_pb2_grpc.NotificationServiceStub(channel)
                told = await notify.ListNotifications(
                    notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
                )
        finally:
            for service in (intake, triage, notification):
                await service.stop()
    ids = [r.headers["x-fengqiao-notification-id"] for r in receiver.requests]
    assert len(set(ids)) == 1  # the retry is the same notification, so a receiver can tell
    assert [r.status for r in receiver.requests] == [0, 200]  # answered exactly once
    grid = [n for n in told.notifications if n.recipient_role == "grid_worker"]
    assert [n.id for n in grid] == ids[:1]  # recorded once
    sent = [line for line in notification.events("notification_sent")
            if line.get("channel") == "webhook"]  # fmt: skip
    assert len(sent) == 1


async def _ok(receiver: object) -> list[object]:
    return list(receiver.ok())  # type: ignore[attr-defined]
