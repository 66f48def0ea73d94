"""Parties who gave no email are told by SMS through the city's gateway: a signed POST
with the full number, retried like any channel. The number is looked up in the dispute
when sending, so no stored or listed notification carries it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import structlog
from structlog.testing import capture_logs

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.conftest import sample, settings_for
from tests.receivers import HttpReceiver, Request, http_receiver
from tests.support import eventually

SECRET = "短信网关密钥"
PHONES = {"13809361274": "王秀兰", "15193625518": "刘桂芳"}  # sample 01's two parties


async def delivered(gateway: HttpReceiver) -> list[Request]:
    return gateway.ok()


async def test_each_party_gets_one_signed_sms_and_no_listing_shows_the_number(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with http_receiver(fail_first=1) as gateway:
        settings = replace(
            settings_for(nats_server.url),
            sms_gateway_url=f"http://127.0.0.1:{gateway.port}/sms",
            sms_secret=SECRET,
            delivery_backoff_seconds=0.2,
        )
        async with running(settings, ("intake", "triage", "notification")) as stack:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch:
                intake = intake_pb2_grpc.IntakeServiceStub(ch)
                dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
            await eventually(lambda: delivered(gateway), lambda ok: len(ok) == 2)
            port = stack.port("notification")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                listed = await notification_pb2_grpc.NotificationServiceStub(ch).ListNotifications(
                    notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
                )
    assert gateway.requests[0].status == 503  # the gateway's hiccup was retried
    bodies = {json.loads(r.body)["phone"]: json.loads(r.body) for r in gateway.ok()}
    assert set(bodies) == set(PHONES)
    for phone, name in PHONES.items():
        assert bodies[phone]["dispute_id"] == dispute_id
        assert bodies[phone]["text"].startswith(f"{name}您好")
    for request in gateway.ok():
        stamp = request.headers["x-fengqiao-timestamp"]
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
        assert request.headers["x-fengqiao-signature"] == f"sha256={mac.hexdigest()}"
    to_parties = [n for n in listed.notifications if n.recipient_role == "party"]
    assert [n.channel for n in to_parties] == ["sms", "sms"]
    shown = listed.SerializeToString()
    assert not any(phone.encode() in shown for phone in PHONES)


async def test_without_a_gateway_the_sms_is_logged_without_number_or_text(
    nats_server: EmbeddedNats,
) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with running(
            settings_for(nats_server.url), ("intake", "triage", "notification")
        ) as stack:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch:
                await intake_pb2_grpc.IntakeServiceStub(ch).SubmitDispute(sample("01"))

            async def logged() -> list[MutableMapping[str, Any]]:
                return [
                    e
                    for e in logs
                    if e["event"] == "notification_logged" and "SMS" in str(e.get("reason"))
                ]

            lines = await eventually(logged, lambda p: len(p) == 2)
    # Who and which template, for the operator; not the number or the text.
    assert sorted(str(e["recipient"])[-2:] for e in lines) == ["/0", "/1"]
    assert {(e["role"], e["template"]) for e in lines} == {("party", "routed")}
    assert not any("phone" in e or "message" in e for e in lines)
    assert not any(phone in json.dumps(logs, default=str) for phone in PHONES)


async def test_a_deployment_without_a_gateway_is_warned_at_start(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    on_a_bus = settings_for(nats_server.url)
    own_server = replace(on_a_bus, nats_url="", data_dir=tmp_path / "nats")
    with_gateway = replace(on_a_bus, sms_gateway_url="http://127.0.0.1:9/sms")
    warned = []
    for settings in (on_a_bus, own_server, with_gateway):
        with capture_logs() as logs:
            async with running(settings, ("notification",)):
                pass
        warned.append([e["log_level"] for e in logs if e["event"] == "sms_gateway_missing"])
    # Only the first: the demo's own server and a configured gateway need no warning.
    assert warned == [["warning"], [], []]
