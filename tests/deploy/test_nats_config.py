"""The NATS server configurations as shipped: compose's (deploy/nats/) with the development
certificates and passwords its scripts make, and the cluster's that kustomize renders for
Kubernetes. The server holds bcrypt hashes only, never a plaintext password; each user gets
in with its own password only."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from fengqiao.domain.errors import NatsConnectError
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.nats_client import NatsOptions, open_connection
from tests.deploy.manifests import BIN, DEPLOY, k8s
from tests.support import nats_password_hashes, nats_tls_env

USERS = ("intake", "triage", "notification", "operator", "policy", "console")
# deploy/.env holds the console's session signing key beside the NATS passwords.
CONSOLE_SECRET = "FENGQIAO_CONSOLE_SECRET"
PLAINTEXT_WARNING = "Plaintext passwords detected"


def run_script(script: Path) -> None:
    # Python's bcrypt (this venv's) where the machine has no htpasswd.
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    made = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, check=False)
    assert made.returncode == 0, made.stdout + made.stderr


async def test_the_dev_scripts_make_a_server_that_admits_only_their_passwords(
    tmp_path: Path,
) -> None:
    nats_dir = tmp_path / "deploy" / "nats"
    shutil.copytree(DEPLOY / "nats", nats_dir, ignore=shutil.ignore_patterns("tls", "passwords*"))
    run_script(nats_dir / "dev-certs.sh")
    run_script(nats_dir / "dev-passwords.sh")
    env_file = dict(
        line.split("=", 1)
        for line in (tmp_path / "deploy" / ".env").read_text().splitlines()
        if not line.startswith("#")
    )
    passwords = {u: env_file[f"FENGQIAO_NATS_{u.upper()}_PASSWORD"] for u in USERS}
    assert set(env_file) == {f"FENGQIAO_NATS_{u.upper()}_PASSWORD" for u in USERS} | {
        CONSOLE_SECRET
    }
    hashes = (nats_dir / "passwords.conf").read_text()
    assert hashes.count('_PASSWORD_HASH: "$2') == len(USERS)
    assert not [p for p in passwords.values() if p in hashes]
    # 256 random bits, none of them a NATS password.
    secret = env_file[CONSOLE_SECRET]
    assert len(bytes.fromhex(secret)) == 32 and secret not in passwords.values()
    assert (tmp_path / "deploy" / ".env").stat().st_mode & 0o077 == 0
    # The shipped nats.conf but for its store (the test's server is given one).
    shipped = (nats_dir / "nats.conf").read_text()
    (nats_dir / "nats.conf").write_text(shipped.replace("  store_dir: /data\n", ""))
    tls = nats_dir / "tls"
    server = await EmbeddedNats.start(
        tmp_path / "store",
        config=nats_dir / "nats.conf",
        env=nats_tls_env(tls),
    )
    try:
        for user in USERS:
            options = NatsOptions(
                user=user, password=passwords[user], tls_ca=tls / "ca.pem",
                connect_wait_seconds=10,
            )  # fmt: skip
            nc = await open_connection(server.url, user, options)
            assert nc.is_connected, user
            await nc.close()
        wrong = NatsOptions(
            user="intake", password=passwords["triage"], tls_ca=tls / "ca.pem",
            connect_wait_seconds=10,
        )  # fmt: skip
        async with asyncio.timeout(15):
            with pytest.raises(NatsConnectError, match="Authorization Violation"):
                await open_connection(server.url, "intake", wrong)
    finally:
        await server.stop()
    assert PLAINTEXT_WARNING not in (tmp_path / "store" / "nats-server.log").read_text()
    # Services trust the dev CA, and it signed a certificate for the compose host `nats`.
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((tls / "server.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "nats" in names.get_values_for_type(x509.DNSName)


def test_the_cluster_configuration_kustomize_renders_is_one_nats_server_accepts(
    tmp_path: Path,
) -> None:
    (config,) = [
        o for o in k8s() if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("nats-")
    ]
    for name, text in config["data"].items():
        (tmp_path / name).write_text(text)
    (tmp_path / "passwords.conf").write_text(nats_password_hashes(dict.fromkeys(USERS, "pw")))
    ca = trustme.CA()
    cert = ca.issue_cert("nats")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    env = {
        **os.environ,
        "SERVER_NAME": "nats-0",
        "NATS_TLS_CERT": str(tmp_path / "tls.crt"),
        "NATS_TLS_KEY": str(tmp_path / "tls.key"),
        "NATS_TLS_CA": str(tmp_path / "ca.crt"),
    }
    checked = subprocess.run(
        [str(BIN / "nats-server"), "-c", str(tmp_path / "nats.conf"), "-t"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "is valid" in checked.stdout + checked.stderr
