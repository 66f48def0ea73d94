"""ListNotifications says what became of each notification: sent through a real channel,
only logged, dead-lettered, or not routable; never an SMS that was only written down."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import notification_pb2, notification_pb2_grpc
from tests.conftest import settings_for
from tests.notification.test_delivery import GRID, submit
from tests.receivers import http_receiver
from tests.support import eventually

N = notification_pb2
SETTLED = {
    N.DELIVERY_STATUS_SENT,
    N.DELIVERY_STATUS_LOGGED_ONLY,
    N.DELIVERY_STATUS_DEAD_LETTERED,
    N.DELIVERY_STATUS_UNROUTABLE,
}


async def test_each_notification_says_how_it_was_delivered(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    community = GRID.rsplit("/", 1)[0]
    async with http_receiver() as good, http_receiver(failing=True) as bad:
        path = tmp_path / "directory.yaml"
        path.write_text(
            f"contacts:\n"
            f"  - role: grid_worker\n    where: {GRID}\n    channels:\n"
            f"      - webhook: http://127.0.0.1:{good.port}/hook\n"
            f"  - role: community_mediation_room\n    where: {community}\n    channels:\n"
            f"      - webhook: http://127.0.0.1:{bad.port}/hook\n",
            encoding="utf-8",
        )
        # Sample 01 tells the grid worker, the community's mediation room and both parties
        # (by SMS, with no gateway here: written to the log).
        settings = replace(settings_for(nats_server.url), directory_file=path, delivery_attempts=1)
        async with running(settings, ("intake", "triage", "notification")) as stack:
            dispute_id = await submit(stack.port("intake"))
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{stack.port('notification')}"
            ) as channel:
                stub = notification_pb2_grpc.NotificationServiceStub(channel)
                request = N.ListNotificationsRequest(dispute_id=dispute_id)

                async def listed() -> list[N.Notification]:
                    return list((await stub.ListNotifications(request)).notifications)

                told = await eventually(
                    listed,
                    lambda ns: len(ns) == 4 and all(n.delivery_status in SETTLED for n in ns),
                )
    by_role = {n.recipient_role: n for n in told}
    grid, room = by_role["grid_worker"], by_role["community_mediation_room"]
    assert (grid.delivery_status, list(grid.delivered_via)) == (N.DELIVERY_STATUS_SENT, ["webhook"])
    assert grid.HasField("delivered_at")
    assert room.delivery_status == N.DELIVERY_STATUS_DEAD_LETTERED
    parties = [n for n in told if n.recipient_role == "party"]
    assert [(n.channel, n.delivery_status, list(n.delivered_via)) for n in parties] == [
        ("sms", N.DELIVERY_STATUS_LOGGED_ONLY, ["log"])
    ] * 2


async def test_a_recipient_the_directory_does_not_list_is_shown_unroutable(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("contacts: []\n", encoding="utf-8")
    settings = replace(settings_for(nats_server.url), directory_file=path)
    async with running(settings, ("intake", "triage", "notification")) as stack:
        dispute_id = await submit(stack.port("intake"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as ch:
            stub = notification_pb2_grpc.NotificationServiceStub(ch)
            request = N.ListNotificationsRequest(dispute_id=dispute_id)

            async def statuses() -> dict[str, int]:
                page = await stub.ListNotifications(request)
                return {n.recipient_role: n.delivery_status for n in page.notifications}

            found = await eventually(
                statuses, lambda s: s.get("grid_worker") == N.DELIVERY_STATUS_UNROUTABLE
            )
    assert found["community_mediation_room"] == N.DELIVERY_STATUS_UNROUTABLE
