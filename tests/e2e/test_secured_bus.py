"""The shipped NATS users, permissions and TLS (`deploy/nats/auth.conf`, `tls.conf`): the
three services as separate processes, each its own NATS user over TLS, carry a dispute up
the ladder without one permission violation, and the console, a process of its own as its
user, shows a new dispute live; strangers and wrong certificates are turned away with an
error that says what to check; a service cannot publish what it does not own, nor the
console any dispute subject."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import trustme
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NoStreamResponseError
from structlog.testing import capture_logs

from fengqiao.domain.errors import NatsConnectError, SettingsError
from fengqiao.platform.bus import KV_DISPUTES, NOTIFY_MAX_AGE_SECONDS, connect, kv_history
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.nats_client import NatsOptions, open_connection
from fengqiao.platform.settings import Settings
from fengqiao.platform.store import DisputeStore
from fengqiao.policy import policy_version
from fengqiao.readmodel.apply import DISPUTES
from fengqiao.readmodel.database import create, database_url, migrate
from fengqiao.readmodel.follower import Follower
from fengqiao.retention import apply_retention
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.conftest import ROOT, sample
from tests.console.conftest import csrf_of, sign_in, write_users
from tests.e2e.processes import SERVICES, ServiceProcess
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually, nats_password_hashes, nats_tls_env
from tests.triage.policies import relabelled

DEPLOY = ROOT / "deploy" / "nats"
USERS = ("intake", "triage", "notification", "operator", "policy", "console")
KEEP = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class SecuredNats:
    server: EmbeddedNats
    ca: Path
    passwords: dict[str, str]

    def options(self, user: str, password: str | None = None) -> NatsOptions:
        secret = self.passwords[user] if password is None else password
        return NatsOptions(user=user, password=secret, tls_ca=self.ca, connect_wait_seconds=10)

    def env(self, user: str) -> dict[str, str]:
        return {
            "FENGQIAO_NATS_USER": user,
            "FENGQIAO_NATS_PASSWORD": self.passwords[user],
            "FENGQIAO_NATS_TLS_CA": str(self.ca),
        }


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[SecuredNats]:
    tls = tmp_path / "tls"
    tls.mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tls / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tls / "server.pem"))
    cert.private_key_pem.write_to_path(str(tls / "server.key"))
    trustme.CA().cert_pem.write_to_path(str(tls / "other-ca.pem"))  # signed nothing here
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("auth.conf", "tls.conf"):
        shutil.copy(DEPLOY / name, conf / name)
    (conf / "nats.conf").write_text('include "auth.conf"\ninclude "tls.conf"\n')
    passwords = {user: f"{user}-{os.urandom(8).hex()}" for user in USERS}
    (conf / "passwords.conf").write_text(nats_password_hashes(passwords))
    server = await EmbeddedNats.start(
        tmp_path / "nats", config=conf / "nats.conf", env=nats_tls_env(tls)
    )
    try:
        secured = SecuredNats(server, tls / "ca.pem", passwords)
        # What `fengqiao bus setup` does, as the operator: services may not declare.
        await (await connect(server.url, "cli", secured.options("operator"))).close()
        yield secured
    finally:
        await server.stop()


async def as_their_own_users(secured: SecuredNats) -> dict[str, ServiceProcess]:
    """intake, triage and notification started as processes, each as its own NATS user."""
    started = await asyncio.gather(
        *(ServiceProcess.start(n, secured.server.url, extra=secured.env(n)) for n in SERVICES)
    )
    return dict(zip(SERVICES, started, strict=True))


async def test_services_as_their_own_users_over_tls_climb_the_ladder(
    secured: SecuredNats,
) -> None:
    assert secured.server.url.startswith("tls://")
    services = await as_their_own_users(secured)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{services['intake'].port}") as intake_ch,
            grpc.aio.insecure_channel(f"127.0.0.1:{services['notification'].port}") as notify_ch,
        ):
            intake = intake_pb2_grpc.IntakeServiceStub(intake_ch)
            dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
            get = partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
            await eventually(get, lambda r: r.step == 1)
            for kind in ("accepted", "mediation_started"):
                await intake.RecordEvent(event(dispute_id, kind))
            await intake.RecordEvent(event(dispute_id, "mediation_failed", reason="分歧较大"))
            climbed = await eventually(
                get, lambda r: r.step == 2 and r.timeline[-1].kind == "notified"
            )
            listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest())
            stats = await intake.GetStats(intake_pb2.GetStatsRequest())
            notify = notification_pb2_grpc.NotificationServiceStub(notify_ch)
            told = await notify.ListNotifications(
                notification_pb2.ListNotificationsRequest(dispute_id=dispute_id)
            )
    finally:
        for service in services.values():
            await service.stop()
    assert climbed.step == 2 and [d.dispute.id for d in listed.disputes] == [dispute_id]
    assert stats.received == 1 and stats.escalated == 1 and len(told.notifications) >= 2
    assert all(s.events("nats_connected")[0]["user"] == n for n, s in services.items())
    # The server answers a forbidden publish or subscribe with an error each client logs.
    assert [e for s in services.values() for e in s.events("nats_error")] == []


async def dispute_frame(lines: AsyncIterator[str], dispute_id: str) -> dict[str, Any]:
    """The data of the first `dispute` frame of an SSE stream that is about `dispute_id`."""
    event, data = "", ""
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line:  # a frame ends
            if event == "dispute" and json.loads(data)["id"] == dispute_id:
                frame: dict[str, Any] = json.loads(data)
                return frame
            event, data = "", ""
    raise AssertionError("the live stream ended without the dispute")


async def test_the_console_as_its_own_user_shows_a_new_dispute_live(
    secured: SecuredNats, tmp_path: Path
) -> None:
    """The console, a process of its own as NATS user `console` over TLS, with the services
    at their addresses: a signed-in user's live board (Server-Sent Events, an ordered
    consumer of the disputes bucket) shows a dispute submitted after it opened, and its
    user's permissions refuse nothing it does."""
    services = await as_their_own_users(secured)
    addresses = {
        f"FENGQIAO_{name.upper()}_ADDR": f"127.0.0.1:{service.port}"
        for name, service in services.items()
    }
    users = {"FENGQIAO_CONSOLE_USERS_FILE": str(write_users(tmp_path / "users.yaml"))}
    try:
        console = await ServiceProcess.start(
            "console", secured.server.url, extra={**secured.env("console"), **addresses, **users}
        )
        try:
            async with (
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{console.port}", timeout=30
                ) as browser,
                grpc.aio.insecure_channel(addresses["FENGQIAO_INTAKE_ADDR"]) as channel,
            ):
                await sign_in(browser, "viewer")
                sse = {"accept": "text/event-stream"}
                async with browser.stream("GET", "/live", headers=sse) as live:
                    # The answer's head comes once its consumer exists: what follows is seen.
                    assert live.status_code == 200
                    assert live.headers["content-type"].startswith("text/event-stream")
                    intake = intake_pb2_grpc.IntakeServiceStub(channel)
                    dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
                    async with asyncio.timeout(20):
                        frame = await dispute_frame(live.aiter_lines(), dispute_id)
        finally:
            stopped = await console.stop()
    finally:
        for service in services.values():
            await service.stop()
    assert frame["id"] == dispute_id and dispute_id in frame["html"]
    assert stopped == 0
    assert console.events("nats_connected")[0]["user"] == "console"
    assert len(console.events("console_live_opened")) == 1
    # A forbidden publish, subscribe or API call would be logged here by the console.
    assert console.events("nats_error") == []


async def test_the_console_user_cannot_publish_a_dispute_subject(secured: SecuredNats) -> None:
    nc = await open_connection(secured.server.url, "console", secured.options("console"))
    refused = ("disputes.submitted.FQ-1", "disputes.events.FQ-1", f"$KV.{KV_DISPUTES}.FQ-1")
    try:
        js = nc.jetstream()
        with capture_logs() as logs:
            for subject in refused:
                with pytest.raises((TimeoutError, NoStreamResponseError)):
                    await js.publish(subject, b"{}", timeout=1)
        assert (await js.stream_info("DISPUTES")).state.messages == 0
        assert (await js.stream_info(f"KV_{KV_DISPUTES}")).state.messages == 0
    finally:
        await nc.close()
    errors = [e["error"].lower() for e in logs if e["event"] == "nats_error"]
    assert errors == [f'nats: permissions violation for publish to "{s.lower()}"' for s in refused]


async def as_operator(secured: SecuredNats, *argv: str) -> str:
    """`fengqiao ARGV` run as the operator user; its output, after checking it succeeded
    without one permission violation."""
    return await as_user(secured, "operator", *argv)


async def as_user(secured: SecuredNats, user: str, *argv: str) -> str:
    """`fengqiao ARGV` run as NATS user `user`, checked as `as_operator` is."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", *argv, cwd=ROOT,
        env={**os.environ, **secured.env(user), "FENGQIAO_NATS_URL": secured.server.url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "nats_error" not in err.decode()
    return out.decode()


async def activations(service: ServiceProcess) -> int:
    return len(service.events("policy_activated"))


async def test_policy_staff_publish_and_roll_back_as_their_own_user(
    secured: SecuredNats, tmp_path: Path
) -> None:
    triage = await ServiceProcess.start("triage", secured.server.url, extra=secured.env("triage"))
    edited = tmp_path / "triage.yaml"
    edited.write_text(relabelled("修订一"), encoding="utf-8")
    try:
        published = await as_user(
            secured, "policy", "rules", "publish", str(edited), "--comment", "标签修订"
        )
        first = policy_version((ROOT / "rules" / "triage.yaml").read_bytes())
        await eventually(partial(activations, triage), lambda n: n == 1)
        listed = await as_user(secured, "policy", "rules", "versions")
        await as_user(secured, "policy", "rules", "rollback", first[:12])
        await eventually(partial(activations, triage), lambda n: n == 2)
        nc = await open_connection(secured.server.url, "cli", secured.options("policy"))
        try:
            with capture_logs() as logs, pytest.raises((TimeoutError, NoStreamResponseError)):
                await nc.jetstream().publish("$KV.disputes.FQ-1", b"{}", timeout=1)
        finally:
            await nc.close()
    finally:
        await triage.stop()
    assert "已发布并启用" in published and f"* {first[:12]}" not in listed
    assert [e["policy_version"] for e in triage.events("policy_activated")][-1] == first
    assert triage.events("nats_error") == []
    assert [e["event"] for e in logs if e["event"] == "nats_error"] == ["nats_error"]


async def test_the_console_as_its_own_user_publishes_and_rolls_back_for_policy_staff(
    secured: SecuredNats, tmp_path: Path
) -> None:
    """The playground's writes as NATS user `console`: the page lists the versions, a
    publish puts a new one in force on triage and a rollback the first one back, and the
    user's permissions refuse nothing of it."""
    triage = await ServiceProcess.start("triage", secured.server.url, extra=secured.env("triage"))
    first = policy_version((ROOT / "rules" / "triage.yaml").read_bytes())
    draft = relabelled("控制台发布")
    env = {
        **secured.env("console"),
        "FENGQIAO_TRIAGE_ADDR": f"127.0.0.1:{triage.port}",
        "FENGQIAO_CONSOLE_USERS_FILE": str(write_users(tmp_path / "users.yaml")),
    }
    try:
        console = await ServiceProcess.start("console", secured.server.url, extra=env)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{console.port}", timeout=60
            ) as browser:
                await sign_in(browser, "policy")
                page = await browser.get("/playground")
                token = {"x-csrf-token": csrf_of(page.text)}
                published = await browser.post(
                    "/playground/publish", json={"text": draft, "comment": "控制台"}, headers=token
                )
                await eventually(partial(activations, triage), lambda n: n == 1)
                back = await browser.post(
                    "/playground/rollback", json={"version": first[:12]}, headers=token
                )
                await eventually(partial(activations, triage), lambda n: n == 2)
        finally:
            stopped = await console.stop()
    finally:
        await triage.stop()
    assert page.status_code == 200 and f'data-version="{first}"' in page.text
    assert published.status_code == 200, published.text
    assert back.status_code == 200, back.text
    versions = [e["policy_version"] for e in triage.events("policy_activated")]
    assert versions[-2:] == [policy_version(draft.encode()), first]
    assert [e["user"] for e in console.events("console_policy_published")] == ["policy"]
    assert [e["user"] for e in console.events("console_policy_rolled_back")] == ["policy"]
    assert stopped == 0 and console.events("nats_error") == []


async def test_the_operator_user_can_list_dead_letters(secured: SecuredNats) -> None:
    out = await as_operator(secured, "notifications", "dead-letters")
    assert out == "共 0 条死信（dead letters）\n"


async def test_a_service_finding_no_stream_says_to_run_bus_setup(secured: SecuredNats) -> None:
    operator = await connect(secured.server.url, "cli", secured.options("operator"))
    await operator.js.delete_stream("NOTIFY")
    with pytest.raises(NatsConnectError, match="fengqiao bus setup"):
        await connect(secured.server.url, "notification", secured.options("notification"))
    out = await as_operator(secured, "bus", "setup")
    assert "NOTIFY\t0 条消息" in out and "KV_disputes" in out
    try:
        assert (await operator.js.stream_info("NOTIFY")).config.max_age == NOTIFY_MAX_AGE_SECONDS
    finally:
        await operator.close()
    bus = await connect(secured.server.url, "notification", secured.options("notification"))
    await bus.close()


async def test_the_operator_user_can_anonymise_a_long_closed_dispute(
    secured: SecuredNats,
) -> None:
    started = list((await as_their_own_users(secured)).values())
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{started[0].port}") as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            dispute_id = await routed_dispute(intake)
            for kind in ("accepted", "mediation_started", "resolved"):
                await intake.RecordEvent(event(dispute_id, kind))
        bus = await connect(secured.server.url, "cli", secured.options("operator"))
        try:
            closed_at = (await DisputeStore(bus).require(dispute_id)).closed_at
            assert closed_at is not None
            with capture_logs() as logs:
                report = await apply_retention(bus, closed_at + KEEP, KEEP)
            record = await DisputeStore(bus).require(dispute_id)
            history = await kv_history(bus.js, KV_DISPUTES, dispute_id)
        finally:
            await bus.close()
    finally:
        for service in started:
            await service.stop()
    assert report.anonymised == [dispute_id] and len(history) == 1
    assert record.dispute.parties[0].name == "当事人1"
    assert [e for e in logs if e["event"] == "nats_error"] == []


@pytest.mark.parametrize(
    ("user", "password", "trusted", "expected"),
    [
        ("", "", "ca.pem", "Authorization Violation"),
        ("intake", "wrong", "ca.pem", "Authorization Violation"),
        ("intake", None, "other-ca.pem", "CERTIFICATE_VERIFY_FAILED"),
    ],
    ids=["no user", "wrong password", "server not signed by the trusted CA"],
)
async def test_strangers_are_refused_at_once_with_what_to_check(
    secured: SecuredNats, user: str, password: str | None, trusted: str, expected: str
) -> None:
    options = replace(
        secured.options("intake", password),
        user=user,
        tls_ca=secured.ca.with_name(trusted),
        connect_wait_seconds=60,
    )
    async with asyncio.timeout(15):  # refused at once, not after the 60 s wait
        with pytest.raises(NatsConnectError) as info:
            await open_connection(secured.server.url, "probe", options)
    assert expected.lower() in str(info.value).lower()
    assert "refused this service" in str(info.value) and "FENGQIAO_NATS_URL" in str(info.value)


async def test_a_service_cannot_publish_what_another_owns(secured: SecuredNats) -> None:
    nc = await open_connection(secured.server.url, "intake", secured.options("intake"))
    try:
        js = nc.jetstream()
        ack = await js.publish("disputes.submitted.FQ-1", b"{}")
        assert ack.stream == "DISPUTES"
        with capture_logs() as logs, pytest.raises((TimeoutError, NoStreamResponseError)):
            await js.publish("disputes.routed.FQ-1", b"{}", timeout=1)
        assert (await js.stream_info("DISPUTES")).state.messages == 1
    finally:
        await nc.close()
    errors = [e["error"].lower() for e in logs if e["event"] == "nats_error"]
    assert errors == ['nats: permissions violation for publish to "disputes.routed.fq-1"']


@pytest.mark.parametrize("user", ["intake", "triage", "notification"])
async def test_no_service_can_change_delete_or_purge_a_stream(
    secured: SecuredNats, user: str
) -> None:
    bus = await connect(secured.server.url, user, secured.options(user))
    try:
        await bus.disputes.put("FQ-kept", b"{}")
        with capture_logs() as logs:
            for attempt in (
                bus.js.delete_stream(f"KV_{KV_DISPUTES}"),
                bus.js.purge_stream(f"KV_{KV_DISPUTES}"),
                bus.js.delete_stream("DISPUTES"),
                # Nor shorten what a stream keeps, nor make one of its own.
                bus.js.update_stream(StreamConfig(name="NOTIFY", subjects=["notify.>"], max_age=1)),
                bus.js.add_stream(StreamConfig(name="OTHER", subjects=["other.>"])),
            ):
                with pytest.raises((TimeoutError, NoStreamResponseError)):
                    await asyncio.wait_for(attempt, 1)  # refused requests get no answer
        assert (await bus.disputes.get("FQ-kept")).value == b"{}"
        assert (await bus.js.stream_info("DISPUTES")).config.name == "DISPUTES"
        assert (await bus.js.stream_info("NOTIFY")).config.max_age == NOTIFY_MAX_AGE_SECONDS
    finally:
        await bus.close()
    denied = [e["error"] for e in logs if e["event"] == "nats_error"]
    assert len(denied) == 5 and all("permissions violation" in d for d in denied)


@pytest.mark.parametrize(
    ("user", "stream", "owned_by_another"),
    [
        ("intake", "DISPUTES", "triage"),
        ("triage", "NOTIFY", "notification-delivery"),
        ("notification", "DISPUTES", "triage-events"),
    ],
)
async def test_no_service_can_touch_another_services_consumer(
    secured: SecuredNats, user: str, stream: str, owned_by_another: str
) -> None:
    operator = await connect(secured.server.url, "cli", secured.options("operator"))
    await operator.js.add_consumer(stream, ConsumerConfig(durable_name=owned_by_another))
    bus = await connect(secured.server.url, user, secured.options(user))
    try:
        with capture_logs() as logs:
            for attempt in (
                bus.js.delete_consumer(stream, owned_by_another),
                bus.js.add_consumer(stream, ConsumerConfig(durable_name=f"{user}-elsewhere")),
            ):
                with pytest.raises((TimeoutError, NoStreamResponseError)):
                    await asyncio.wait_for(attempt, 1)
        info = await operator.js.consumer_info(stream, owned_by_another)
        assert info.name == owned_by_another
    finally:
        await bus.close()
        await operator.close()
    denied = [e["error"] for e in logs if e["event"] == "nats_error"]
    assert len(denied) == 2 and all("permissions violation" in d for d in denied)


async def test_intakes_read_model_follows_a_burst_with_intakes_own_permissions(
    secured: SecuredNats, tmp_path: Path
) -> None:
    """Intake's user may create, read and delete its own consumers of the bucket's stream:
    its read model follows a 4 MB burst to the end without a permission violation."""
    bus = await connect(secured.server.url, "intake", secured.options("intake"))
    engine = create(database_url("", tmp_path))
    migrate(engine)
    follower = Follower(bus.js, engine, DISPUTES)
    await follower.start()
    try:
        with capture_logs() as logs:
            for i in range(1000):  # 4 MB, not records: each is logged and skipped
                await bus.js.publish(f"$KV.{KV_DISPUTES}.k{i}", b"x" * 4096)
            await follower.wait_applied()
    finally:
        await follower.stop()
        engine.dispose()
        await bus.close()
    assert [e for e in logs if e["event"] in ("nats_error", "projection_failed")] == []


async def test_a_server_requiring_client_certificates_admits_only_holders(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    files = {
        "ca.pem": ca.cert_pem,
        "server.pem": (server := ca.issue_cert("127.0.0.1")).cert_chain_pems[0],
        "server.key": server.private_key_pem,
        "client.pem": (client := ca.issue_cert("fengqiao-intake")).cert_chain_pems[0],
        "client.key": client.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / name))
    (tmp_path / "mtls.conf").write_text(
        "tls { cert_file: server.pem, key_file: server.key, ca_file: ca.pem, verify: true }\n"
    )
    server_process = await EmbeddedNats.start(tmp_path / "nats", config=tmp_path / "mtls.conf")
    try:
        holder = NatsOptions(
            tls_ca=tmp_path / "ca.pem",
            tls_cert=tmp_path / "client.pem",
            tls_key=tmp_path / "client.key",
        )
        nc = await open_connection(server_process.url, "intake", holder)
        assert nc.is_connected
        await nc.close()
        stranger = replace(holder, tls_cert=None, tls_key=None, connect_wait_seconds=3)
        with pytest.raises(NatsConnectError):
            await open_connection(server_process.url, "intake", stranger)
    finally:
        await server_process.stop()


def test_nats_settings_come_in_pairs_and_name_real_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FENGQIAO_NATS_USER and FENGQIAO_NATS_PASSWORD"):
        Settings.from_env({"FENGQIAO_NATS_USER": "intake"})
    with pytest.raises(SettingsError, match="FENGQIAO_NATS_TLS_CERT and FENGQIAO_NATS_TLS_KEY"):
        Settings.from_env({"FENGQIAO_NATS_TLS_CERT": str(ROOT / "README.md")})
    with pytest.raises(SettingsError, match=r"FENGQIAO_NATS_TLS_CA=.*: no such file"):
        Settings.from_env({"FENGQIAO_NATS_TLS_CA": str(tmp_path / "missing.pem")})
    settings = Settings.from_env(
        {"FENGQIAO_NATS_USER": "triage", "FENGQIAO_NATS_PASSWORD": "pw",
         "FENGQIAO_NATS_CONNECT_WAIT_SECONDS": "5"}
    )  # fmt: skip
    assert settings.nats == NatsOptions(user="triage", password="pw", connect_wait_seconds=5)
