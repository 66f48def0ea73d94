"""No personal data in any log line: an end-to-end run (a real nats-server, the three
services as processes, logging at debug) with real-looking names, phone and ID numbers,
an email address and a street address, whose every log line is searched for them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial

import grpc
import pytest

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.e2e.processes import ServiceProcess, three_services
from tests.support import eventually

NAMES = ("intake", "triage", "notification")
APPLICANT, RESPONDENT = "欧阳建国", "司马秀英"
PHONES = ("13912345678", "15887654321")
ID_NUMBER = "62070219900307123X"
EMAIL = "ouyang.jg@example.com"
ADDRESS = "南关小区7号楼2单元301室"
SECRETS = (APPLICANT, RESPONDENT, *PHONES, ID_NUMBER, EMAIL, ADDRESS)


def _submission(request_id: str, phone: str = PHONES[0]) -> intake_pb2.SubmitDisputeRequest:
    request = sample("01")
    request.request_id = request_id
    d = request.dispute
    d.summary = (
        f"{APPLICANT}（电话 {PHONES[0]}，身份证 {ID_NUMBER}）反映邻居{RESPONDENT}"
        f"（{PHONES[1]}）家每晚放音乐到深夜，住址{ADDRESS}。"
    )
    d.location.address = ADDRESS
    del d.parties[:]
    d.parties.add(name=APPLICANT, role="applicant", phone=phone, id_number=ID_NUMBER, email=EMAIL)
    d.parties.add(name=RESPONDENT, role="respondent", phone=PHONES[1])
    return request


@pytest.fixture
async def services(nats_server: EmbeddedNats) -> AsyncIterator[dict[str, ServiceProcess]]:
    # One attempt: the party's email (no SMTP server here) goes to the dead letters at
    # once, with its error logged.
    extra = {"FENGQIAO_DELIVERY_ATTEMPTS": "1", "FENGQIAO_SMTP_PORT": "1"}
    async with three_services(nats_server.url, extra, log_level="debug") as running:
        yield running


async def test_no_log_line_of_a_whole_run_holds_a_name_phone_id_or_address(
    services: dict[str, ServiceProcess],
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['intake'].port}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        # Refused submissions echo what is wrong: a phone number one digit short.
        with pytest.raises(grpc.aio.AioRpcError):
            await intake.SubmitDispute(_submission("privacy-bad", phone=PHONES[0][:-1]))
        dispute_id = (await intake.SubmitDispute(_submission("privacy-1"))).dispute_id
        get = partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
        await eventually(get, lambda r: any(e.kind == "notified" for e in r.timeline))
        for kind, reason in (
            ("accepted", ""),
            ("mediation_started", ""),
            ("mediation_failed", f"{RESPONDENT}不同意调低音量，{APPLICANT}要求赔偿"),
        ):
            await intake.RecordEvent(
                intake_pb2.RecordEventRequest(
                    dispute_id=dispute_id,
                    event=dispute_pb2.CaseEvent(kind=kind, actor="社区调解员", reason=reason),
                )
            )
        await eventually(
            get, lambda r: r.step == 2 and sum(e.kind == "notified" for e in r.timeline) == 2
        )
    notification = services["notification"]

    async def dead_letters() -> int:
        return len(notification.events("notification_dead_lettered"))

    await eventually(dead_letters, lambda n: n > 0)
    for service in services.values():
        assert await service.stop() == 0

    lines = [line for s in services.values() for line in s.logs]
    # The run did log about the parties: each was told, in the log channel or by email.
    assert notification.events("notification_logged")
    assert any(
        line.get("recipient", "").startswith("party@")
        for line in notification.events("notification_dead_lettered")
        + notification.events("notification_logged")
        + notification.events("notification_failed")
    )
    assert any(line.get("event") == "rpc_finished" for line in services["intake"].logs)
    leaks = [
        (secret, line)
        for line in lines
        for secret in SECRETS
        if secret in json.dumps(line, ensure_ascii=False)
    ]
    assert not leaks, leaks[:5]
