"""A real PostgreSQL server for the tests, started once per test session like nats-server
is per test: Debian's `postgresql` package (`.ci/run` installs it), a temporary cluster,
a free port on 127.0.0.1. PostgreSQL refuses to run as root, so as root the cluster
belongs to `nobody`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

_UNPRIVILEGED = "nobody"


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "apt-get install postgresql (.ci/run does)"
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Postgres:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database on this server."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    binaries = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="fengqiao-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", _UNPRIVILEGED, "--"] if as_root else []
    if as_root:
        shutil.chown(root, _UNPRIVILEGED)
        shutil.chown(sockets, _UNPRIVILEGED)
        root.chmod(0o700)
    subprocess.run(
        [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    log = (root / "postgres.log").open("ab")
    # Speed over durability: the cluster lives for one test session.
    server = subprocess.Popen(
        [*prefix, str(binaries / "postgres"), "-D", str(data), "-p", str(port),
         "-k", str(sockets), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
         "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
         "-c", "max_connections=200"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        _wait_ready(Postgres(port), server)
        yield Postgres(port)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(pg: Postgres, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(pg.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
