"""Fixtures with real parts: a real nats-server per test, real gRPC servers on 127.0.0.1."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
import structlog

from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.settings import Settings
from fengqiao.samples import read_submission, sample_files
from fengqiao.stack import Stack, running
from fengqiao.v1 import intake_pb2
from tests.postgres import Postgres, running_postgres

# The image's own tests run inside `make image-test`, which builds the image and points
# FENGQIAO_IMAGE_ROOT at it; elsewhere there is nothing for them to test.
collect_ignore = [] if os.environ.get("FENGQIAO_IMAGE_ROOT") else ["image"]

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "rules" / "triage.yaml"
SAMPLES = ROOT / "rules" / "samples"
# Deadlines of seconds, for watching the ladder climb.
FAST_POLICY = Path(__file__).resolve().parent / "fixtures" / "fast_policy.yaml"


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """`fengqiao.cli.main.main` configures logging for its process; undo it after each test."""
    yield
    structlog.reset_defaults()


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    server = await EmbeddedNats.start(tmp_path / "nats")
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A new, empty PostgreSQL database for one test."""
    return postgres_server.new_database()


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    connection = await connect(nats_server.url, "test")
    try:
        yield connection
    finally:
        await connection.close()


def settings_for(nats_url: str, policy: Path = POLICY, data_dir: Path | None = None) -> Settings:
    """Services on `nats_url`, each call with its own read-model directory unless given."""
    return Settings(
        nats_url=nats_url,
        data_dir=data_dir or Path(tempfile.mkdtemp(prefix="fengqiao-test-")),
        intake_addr="127.0.0.1:0",
        triage_addr="127.0.0.1:0",
        notification_addr="127.0.0.1:0",
        policy_file=policy,
    )


@pytest.fixture
async def stack(nats_server: EmbeddedNats) -> AsyncIterator[Stack]:
    async with running(settings_for(nats_server.url), ("intake", "triage", "notification")) as s:
        yield s


@pytest.fixture
async def fast_stack(nats_server: EmbeddedNats) -> AsyncIterator[Stack]:
    names = ("intake", "triage", "notification")
    async with running(settings_for(nats_server.url, FAST_POLICY), names) as s:
        yield s


@pytest.fixture
async def intake_channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        yield channel


def samples() -> list[intake_pb2.SubmitDisputeRequest]:
    return [read_submission(path) for path in sample_files(SAMPLES)]


def sample(prefix: str) -> intake_pb2.SubmitDisputeRequest:
    """The sample whose file name starts with `prefix` (e.g. "13")."""
    (path,) = [p for p in sample_files(SAMPLES) if p.name.startswith(prefix)]
    return read_submission(path)
