"""Deadlines survive a killed triage process and a restarted nats-server."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path

import grpc

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from tests.conftest import FAST_POLICY, sample
from tests.e2e.processes import ServiceProcess
from tests.support import eventually

# Long enough to kill triage and restart the server before the first deadline falls due.
LOCAL_DEADLINE_SECONDS = 8


async def test_a_pending_deadline_fires_after_triage_is_killed_and_nats_restarts(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    text = FAST_POLICY.read_text(encoding="utf-8")
    policy.write_text(
        text.replace(
            "    label: 就地化解\n    deadline: {seconds: 2}",
            f"    label: 就地化解\n    deadline: {{seconds: {LOCAL_DEADLINE_SECONDS}}}",
        ),
        encoding="utf-8",
    )
    assert policy.read_text(encoding="utf-8") != text
    nats = await EmbeddedNats.start(tmp_path / "nats")
    services = {
        name: await ServiceProcess.start(name, nats.url, policy)
        for name in ("intake", "triage", "notification")
    }
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{services['intake'].port}") as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id

            def get() -> Awaitable[dispute_pb2.DisputeRecord]:
                return intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))

            first = await eventually(get, lambda r: r.step == 1)
            assert first.decision.route == dispute_pb2.ROUTE_LOCAL

            services["triage"].kill()
            await services["triage"].stop()
            port = nats.port
            await nats.stop()
            nats = await EmbeddedNats.start(tmp_path / "nats", port=port)
            services["triage"] = await ServiceProcess.start("triage", nats.url, policy)

            record = await eventually(get, lambda r: r.step == 3, within=90)
            # Notification lived through the restart and told the street leader.
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{services['notification'].port}"
            ) as notify_channel:
                notify = notification_pb2_grpc.NotificationServiceStub(notify_channel)
                told = await eventually(
                    lambda: notify.ListNotifications(
                        notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
                    ),
                    lambda r: any(n.recipient_role == "street_leader" for n in r.notifications),
                )
    finally:
        for service in services.values():
            await service.stop()
        await nats.stop()
    climbed = [(e.trigger, e.rule_id) for e in record.timeline if e.kind == "escalated"]
    assert climbed == [("deadline_expired", "up-from-local"), ("deadline_expired", "leader")]
    assert record.step == 3 and record.decision.handler == "street_leader"
    escalated = services["triage"].events("dispute_escalated")
    assert [line["step"] for line in escalated] == [2, 3]
    leader = [n for n in told.notifications if n.recipient_role == "street_leader"]
    assert len(leader) == 1 and "【升级】" in leader[0].message
