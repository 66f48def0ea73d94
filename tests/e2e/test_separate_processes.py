"""The acceptance path: a real nats-server and the three services as separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import grpc
import pytest

from fengqiao.platform.embedded_nats import EmbeddedNats, running_url
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from tests.conftest import ROOT, sample
from tests.e2e.processes import ServiceProcess, three_services
from tests.support import eventually

NAMES = ("intake", "triage", "notification")


@pytest.fixture
async def services(nats_server: EmbeddedNats) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with three_services(nats_server.url) as running:
        yield running


async def test_disputes_are_decided_and_notified_across_processes(
    services: dict[str, ServiceProcess],
) -> None:
    chosen = {"01": dispute_pb2.ROUTE_LOCAL, "07": dispute_pb2.ROUTE_STREET_OFFICE,
              "13": dispute_pb2.ROUTE_COURT_FAST_TRACK, "10": dispute_pb2.ROUTE_LOCAL,
              "20": dispute_pb2.ROUTE_STREET_OFFICE}  # fmt: skip
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{services['intake'].port}") as intake_ch,
        grpc.aio.insecure_channel(f"127.0.0.1:{services['notification'].port}") as notify_ch,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(intake_ch)
        notify = notification_pb2_grpc.NotificationServiceStub(notify_ch)
        submitted = {
            prefix: (await intake.SubmitDispute(sample(prefix))).dispute_id for prefix in chosen
        }
        for prefix, dispute_id in submitted.items():
            record = await eventually(
                partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
                lambda r: any(e.kind == "notified" for e in r.timeline),
            )
            assert record.status == dispute_pb2.DISPUTE_STATUS_ROUTED
            assert record.decision.route == chosen[prefix]
            assert record.decision.policy_version and record.decision.HasField("deadline")
            told = await notify.ListNotifications(
                notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
            )
            assert len(told.notifications) >= 1 + len(sample(prefix).dispute.parties)

    for name, service in services.items():
        assert await service.stop() == 0, f"{name} did not stop cleanly"
        assert service.events("service_stopped"), name
    routed = services["triage"].events("dispute_routed")
    assert sorted(line["dispute_id"] for line in routed) == sorted(submitted.values())
    sent = services["notification"].events("notification_sent")
    assert {line["dispute_id"] for line in sent} == set(submitted.values())


async def test_up_starts_its_own_nats_and_all_three_services_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env |= {
        "FENGQIAO_DATA_DIR": str(tmp_path / "data"),
        "FENGQIAO_LOG_FORMAT": "json",
        **{f"FENGQIAO_{n.upper()}_ADDR": "127.0.0.1:0" for n in NAMES},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "up", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    events: list[dict[str, object]] = []
    async with asyncio.timeout(60):
        while sum(e.get("event") == "service_started" for e in events) < len(NAMES):
            line = await process.stderr.readline()
            assert line, f"fengqiao up exited early: {events[-5:]}"
            events.append(json.loads(line))
        # An operator command beside it, with no FENGQIAO_NATS_URL, finds its server.
        operator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fengqiao", "notifications", "dead-letters", cwd=ROOT,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await operator.communicate()
        assert (operator.returncode, out.decode()) == (0, "共 0 条死信（dead letters）\n"), err
        process.send_signal(signal.SIGTERM)
        _, rest = await process.communicate()
    events += [json.loads(line) for line in rest.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert process.returncode == 0
    assert names.index("nats_server_started") < names.index("service_started")
    assert names.count("service_stopped") == len(NAMES)
    assert names[-1] == "nats_server_stopped"
    assert (tmp_path / "data" / "jetstream").is_dir()
    assert not running_url(tmp_path / "data"), "the record goes with the server"
