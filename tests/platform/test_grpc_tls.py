"""The gRPC APIs over TLS, and with client certificates required (mutual TLS); plain-text
and uncertified callers are turned away; `fengqiao health` probes a TLS server."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import trustme

from fengqiao.domain.errors import SettingsError
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.grpc_tls import GrpcTls
from fengqiao.platform.settings import Settings
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2_grpc
from tests.conftest import ROOT, sample, settings_for

NAME = "intake.fengqiao.internal"  # the name on the server's certificate


def issue(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for NAME, and a client certificate for the platform."""
    ca = trustme.CA()
    server = ca.issue_cert(NAME)
    client = ca.issue_cert("city-platform")
    files = {
        "ca": ca.cert_pem,
        "server.pem": server.cert_chain_pems[0],
        "server.key": server.private_key_pem,
        "client.pem": client.cert_chain_pems[0],
        "client.key": client.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / name))
    return {name: tmp_path / name for name in files}


async def submit(tls: GrpcTls, port: int) -> str:
    async with tls.channel(f"127.0.0.1:{port}") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        return (await stub.SubmitDispute(sample("01"), timeout=5)).dispute_id


async def test_over_tls_a_trusting_client_is_served_and_a_plain_one_is_not(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    f = issue(tmp_path)
    server_tls = GrpcTls(cert=f["server.pem"], key=f["server.key"])
    settings = replace(settings_for(nats_server.url), grpc_tls=server_tls)
    async with running(settings, ("intake",)) as stack:
        port = stack.port("intake")
        client = GrpcTls(ca=f["ca"], server_name=NAME)
        assert (await submit(client, port)).startswith("FQ-")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await submit(GrpcTls(), port)  # plain text to a TLS port
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE

        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fengqiao", "health", "--target", f"127.0.0.1:{port}",
            cwd=ROOT, env={**os.environ, "FENGQIAO_GRPC_TLS_CA": str(f["ca"]),
                           "FENGQIAO_GRPC_TLS_SERVER_NAME": NAME},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await probe.communicate()
        assert probe.returncode == 0, err.decode()
        assert b"SERVING" in out


async def test_with_client_certificates_required_only_holders_are_served(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    f = issue(tmp_path)
    server_tls = GrpcTls(cert=f["server.pem"], key=f["server.key"], client_ca=f["ca"])
    settings = replace(settings_for(nats_server.url), grpc_tls=server_tls)
    async with running(settings, ("intake",)) as stack:
        port = stack.port("intake")
        platform = GrpcTls(cert=f["client.pem"], key=f["client.key"], ca=f["ca"], server_name=NAME)
        assert (await submit(platform, port)).startswith("FQ-")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await submit(GrpcTls(ca=f["ca"], server_name=NAME), port)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_grpc_tls_settings_come_in_pairs_and_name_real_files(tmp_path: Path) -> None:
    f = issue(tmp_path)
    with pytest.raises(SettingsError, match="FENGQIAO_GRPC_TLS_CERT and FENGQIAO_GRPC_TLS_KEY"):
        Settings.from_env({"FENGQIAO_GRPC_TLS_CERT": str(f["server.pem"])})
    with pytest.raises(SettingsError, match="FENGQIAO_GRPC_TLS_CLIENT_CA needs"):
        Settings.from_env({"FENGQIAO_GRPC_TLS_CLIENT_CA": str(f["ca"])})
    with pytest.raises(SettingsError, match=r"FENGQIAO_GRPC_TLS_CA=.*: no such file"):
        Settings.from_env({"FENGQIAO_GRPC_TLS_CA": str(tmp_path / "missing.pem")})
    settings = Settings.from_env(
        {
            "FENGQIAO_GRPC_TLS_CERT": str(f["server.pem"]),
            "FENGQIAO_GRPC_TLS_KEY": str(f["server.key"]),
        }
    )
    assert settings.grpc_tls == GrpcTls(cert=f["server.pem"], key=f["server.key"])
