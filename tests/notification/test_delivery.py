"""Delivery through real receivers on loopback: retries spaced as configured, each
notification taken once, dead letters that can be re-driven, and email over SMTP."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from fengqiao.notification.dead_letters import list_dead_letters, redrive
from fengqiao.notification.directory import load_directory
from fengqiao.platform.bus import connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.metrics import record
from fengqiao.policy import PolicyError
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2_grpc
from tests.conftest import sample, settings_for
from tests.receivers import http_receiver, smtp_receiver
from tests.support import eventually

SECRET = "测试密钥-secret"
GRID = "甘州区/东街街道/南关社区/第3网格"  # where sample 01 happened
BACKOFF = 0.3
T = TypeVar("T")


def directory(tmp_path: Path, *webhooks: str, email: str = "") -> Path:
    """A directory giving the grid worker these webhooks (tried in order) and email."""
    channels = [f"      - webhook: {url}" for url in webhooks]
    channels += [f"      - email: {email}"] if email else []
    path = tmp_path / "directory.yaml"
    path.write_text(
        f"contacts:\n  - role: grid_worker\n    where: {GRID}\n    channels:\n"
        + "\n".join(channels)
        + "\n",
        encoding="utf-8",
    )
    return path


async def submit(port: int) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return (
            await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(sample("01"))
        ).dispute_id


async def test_a_receiver_that_fails_twice_gets_it_once_with_spaced_retries(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with http_receiver(fail_first=2) as receiver:
        settings = replace(
            settings_for(nats_server.url),
            directory_file=directory(tmp_path, f"http://127.0.0.1:{receiver.port}/hook"),
            webhook_secret=SECRET, delivery_attempts=5, delivery_backoff_seconds=BACKOFF,
        )  # fmt: skip
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with running(settings, ("intake", "triage", "notification")) as stack:
                await submit(stack.port("intake"))
                await eventually(lambda: _value(receiver.ok()), lambda ok: len(ok) == 1)
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    ids = {r.headers["x-fengqiao-notification-id"] for r in receiver.requests}
    assert len(ids) == 1
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= BACKOFF * 0.75 and gaps[1] >= 2 * BACKOFF * 0.75  # exponential
    last = receiver.requests[-1]
    stamp = last.headers["x-fengqiao-timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + last.body, hashlib.sha256)
    assert last.headers["x-fengqiao-signature"] == f"sha256={expected.hexdigest()}"
    body = json.loads(last.body)
    assert body["event"] == "routed" and "新分派纠纷" in body["message"]
    webhook = [e for e in logs if e.get("channel") == "webhook"]
    attempts = [(e["event"], e["attempt"]) for e in webhook]
    assert attempts == [
        ("notification_failed", 1), ("notification_failed", 2), ("notification_sent", 3),
    ]  # fmt: skip
    assert all("latency_ms" in e and e["dispute_id"] for e in webhook)


async def test_a_recipient_the_directory_does_not_list_is_unroutable_not_sent(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """The directory lists sample 01's grid worker only: the community mediation room is
    logged as unroutable and counted, never as sent; the grid worker still gets it."""
    async with http_receiver() as receiver:
        settings = replace(
            settings_for(nats_server.url),
            directory_file=directory(tmp_path, f"http://127.0.0.1:{receiver.port}/hook"),
        )
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with running(settings, ("intake", "triage", "notification")) as stack:
                dispute_id = await submit(stack.port("intake"))

                async def unroutable() -> list[str]:
                    return [e["role"] for e in logs if e["event"] == "notification_unroutable"]

                await eventually(unroutable, lambda roles: "community_mediation_room" in roles)
                await eventually(lambda: _value(receiver.ok()), lambda ok: len(ok) == 1)
    (line,) = [e for e in logs if e["event"] == "notification_unroutable"]
    assert line["dispute_id"] == dispute_id and line["log_level"] == "warning"
    assert line["recipient"] == "community_mediation_room@甘州区/东街街道/南关社区"
    sent = {e["recipient"] for e in logs if e["event"] == "notification_sent"}
    assert line["recipient"] not in sent and f"grid_worker@{GRID}" in sent
    # what the metrics processor makes of that line (capture_logs bypasses it)
    counter = ("fengqiao_notifications_unroutable_total", {"role": "community_mediation_room"})
    before = REGISTRY.get_sample_value(*counter) or 0.0
    record(None, "warning", dict(line))
    assert REGISTRY.get_sample_value(*counter) == before + 1


async def test_a_receiver_that_never_recovers_ends_in_dead_letters_and_can_be_redriven(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with http_receiver(failing=True) as receiver:
        settings = replace(
            settings_for(nats_server.url),
            directory_file=directory(tmp_path, f"http://127.0.0.1:{receiver.port}/hook"),
            delivery_attempts=2, delivery_backoff_seconds=BACKOFF,
        )  # fmt: skip
        async with running(settings, ("intake", "triage", "notification")) as stack:
            bus = await connect(nats_server.url, "operator")
            try:
                await submit(stack.port("intake"))
                (letter,) = await eventually(
                    lambda: list_dead_letters(bus.js), lambda d: len(d) == 1
                )
                assert (letter.attempts, letter.error) == (2, "webhook: HTTP 503")
                assert letter.recipient_id == f"grid_worker@{GRID}"
                receiver.failing = False
                await redrive(bus.js, letter.notification_id)
                await eventually(lambda: _value(receiver.ok()), lambda ok: len(ok) == 1)
                assert await list_dead_letters(bus.js) == []
            finally:
                await bus.close()
    assert [r.status for r in receiver.requests] == [503, 503, 200]


async def test_a_channel_that_took_it_is_skipped_on_the_retry_and_on_a_redrive(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """Only the channel that failed is tried again, however the message comes back."""
    async with http_receiver() as took, http_receiver(failing=True) as refused:
        path = directory(
            tmp_path, f"http://127.0.0.1:{took.port}/a", f"http://127.0.0.1:{refused.port}/b"
        )
        settings = replace(
            settings_for(nats_server.url), directory_file=path,
            delivery_attempts=2, delivery_backoff_seconds=BACKOFF,
        )  # fmt: skip
        async with running(settings, ("intake", "triage", "notification")) as stack:
            bus = await connect(nats_server.url, "operator")
            try:
                await submit(stack.port("intake"))
                (letter,) = await eventually(
                    lambda: list_dead_letters(bus.js), lambda d: len(d) == 1
                )
                refused.failing = False
                await redrive(bus.js, letter.notification_id)
                await eventually(lambda: _value(refused.ok()), lambda ok: len(ok) == 1)
            finally:
                await bus.close()
    assert [r.status for r in refused.requests] == [503, 503, 200]
    assert [r.status for r in took.requests] == [200]  # told once, on the first attempt


async def test_email_goes_over_smtp_to_institutions_and_to_parties_who_gave_one(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    async with smtp_receiver() as (port, messages):
        settings = replace(
            settings_for(nats_server.url),
            directory_file=directory(tmp_path, email="wangfang@example.cn"),
            smtp_port=port,
        )
        async with running(settings, ("intake", "triage", "notification")) as stack:
            request = sample("01")
            request.dispute.parties[0].email = "applicant@example.cn"
            async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch:
                submitted = await intake_pb2_grpc.IntakeServiceStub(ch).SubmitDispute(request)
            dispute_id = submitted.dispute_id
            await eventually(lambda: _value(messages), lambda m: len(m) == 2)
    by_address = {m["To"]: m for m in messages}
    assert set(by_address) == {"wangfang@example.cn", "applicant@example.cn"}
    to_party = _text(by_address["applicant@example.cn"])
    assert to_party.startswith(f"{request.dispute.parties[0].name}您好")
    message = by_address["wangfang@example.cn"]
    assert message["To"] == "wangfang@example.cn"
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject == f"【枫桥】纠纷 {dispute_id} 通知"
    text = _text(message)
    assert ("新分派纠纷" in text and "138****" in text) or "****" in text


def test_directory_problems_are_located(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "contacts:\n"
        "  - role: grid_worker\n    where: 甘州区/东街街道\n    channels: [{webhook: ftp://x}]\n"
        "  - role: mayor\n    where: 甘州区\n    channels: [{pigeon: 1}]\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_directory(path)
    text = info.value.format()
    assert f"{path}:3:5" in text and "names 4 levels" in text
    assert "webhook needs an http(s) URL" in text
    assert "unknown role 'mayor'" in text and "unknown channel 'pigeon'" in text


async def _value(items: list[T]) -> list[T]:
    return list(items)


def _text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")
