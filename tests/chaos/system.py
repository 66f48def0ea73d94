"""One system under test: nats-server node(s), the services as processes, and the
receiver every notification is sent to (a webhook for institutions, the SMS gateway for
parties), with a directory that gives every recipient of the samples a webhook."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from fengqiao.notification.recipients import SCOPE
from fengqiao.platform.bus import NOTIFY_STREAM, STREAM
from fengqiao.platform.nats_client import open_connection
from fengqiao.v1 import intake_pb2
from tests.bench.procs import BenchError, Processes, python_argv
from tests.bench.stacks import ROOT
from tests.chaos.fleet import Fleet
from tests.chaos.nodes import Nodes
from tests.chaos.truth import past_deadline, read_truth
from tests.receivers import HttpReceiver, http_receiver

SETUP_SECONDS = 120.0
# Consumers must be seen idle this many times in a row, a poll apart, to call it drained.
QUIET_POLLS = 2
POLL_SECONDS = 0.5


def write_directory(path: Path, requests: list[intake_pb2.SubmitDisputeRequest], url: str) -> None:
    """A directory (通讯录) giving every institution of every sample's place a webhook."""
    places: set[tuple[str, str]] = set()
    for request in requests:
        at = request.dispute.location
        parts = (at.district, at.street, at.community, at.grid)
        for role, depth in SCOPE.items():
            places.add((role, "/".join(parts[:depth])))
    lines = ["contacts:"]
    for role, where in sorted(places):
        lines += [
            f"  - role: {role}",
            f"    where: {json.dumps(where, ensure_ascii=False)}",
            "    channels:",
            f"      - webhook: {url}/hook",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class System:
    nodes: Nodes
    fleet: Fleet
    receiver: HttpReceiver
    nc: Client

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    def answered(self) -> Counter[str]:
        """Per notification id, how many deliveries the receiver answered 200."""
        return Counter(
            r.headers.get("x-fengqiao-notification-id", "")
            for r in self.receiver.requests
            if r.status == 200
        )

    async def idle(self) -> bool:
        """Whether every consumer of DISPUTES and NOTIFY has nothing pending and nothing
        delivered but unacknowledged: no work is left anywhere in the pipeline (timers
        not yet due are not pending)."""
        try:
            for stream in (STREAM, NOTIFY_STREAM):
                for info in await self.js.consumers_info(stream):
                    if info.num_pending or info.num_ack_pending:
                        return False
        except (TimeoutError, nats.errors.Error):
            return False
        return True

    async def settled(self) -> bool:
        try:
            truth = await read_truth(self.js)
        except (TimeoutError, nats.errors.Error):
            return False
        now = time.time()
        return all(
            r.HasField("decision") and not past_deadline(r, now) for r in truth.records.values()
        )

    async def drained(self, seconds: float) -> float | None:
        """Seconds until the pipeline was idle (QUIET_POLLS polls in a row) and settled;
        None if it was not within `seconds`. Settled: every stored dispute decided, and
        no open step past its deadline. A dispute stored without its `submitted` message
        has no work pending anywhere until intake's sweeper publishes it again (every
        SWEEP_SECONDS here); a deadline's timer fires at its second."""
        started = time.monotonic()
        quiet = 0
        first_quiet = started
        while time.monotonic() - started < seconds:
            if await self.idle():
                quiet += 1
                first_quiet = first_quiet if quiet > 1 else time.monotonic()
                if quiet >= QUIET_POLLS and await self.settled():
                    return first_quiet - started
            else:
                quiet = 0
            await asyncio.sleep(POLL_SECONDS)
        return None


def bus_setup(url: str, replicas: int) -> None:
    """`fengqiao bus setup --replicas N`, as an operator would, until it succeeds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env["FENGQIAO_NATS_URL"] = url
    deadline = time.monotonic() + SETUP_SECONDS
    argv = python_argv("-m", "fengqiao", "bus", "setup", "--replicas", str(replicas))
    while True:
        out = subprocess.run(
            argv,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SETUP_SECONDS,
            check=False,
        )
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"fengqiao bus setup failed:\n{out.stdout}{out.stderr}")


@asynccontextmanager
async def running(
    processes: Processes,
    tmp: Path,
    requests: list[intake_pb2.SubmitDisputeRequest],
    *,
    nodes: int,
    replicas: int,
    fsync_always: bool = True,
    policy: Path = ROOT / "rules" / "triage.yaml",
) -> AsyncIterator[System]:
    """Everything started, and stopped again on the way out."""
    async with http_receiver() as receiver:
        url = f"http://127.0.0.1:{receiver.port}"
        tmp.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  # once, before any process
        directory = tmp / "directory.yaml"
        write_directory(directory, requests, url)
        cluster = Nodes.plan(processes, tmp, nodes, fsync_always=fsync_always)
        await cluster.start_all()
        if cluster.clustered:
            await asyncio.to_thread(bus_setup, cluster.url, nodes)
        settings = {
            "FENGQIAO_DIRECTORY_FILE": str(directory),
            "FENGQIAO_SMS_GATEWAY_URL": f"{url}/sms",
            "FENGQIAO_SMS_SECRET": "chaos",
            "FENGQIAO_WEBHOOK_SECRET": "chaos",
            "FENGQIAO_POLICY_FILE": str(policy),
        }
        fleet = Fleet.plan(processes, tmp, cluster.url, replicas, settings)
        nc = await open_connection(cluster.url, "chaos")
        try:
            await fleet.start_all()
            yield System(cluster, fleet, receiver, nc)
        finally:
            fleet.resume_all()
            await nc.close()
            processes.stop([s.proc for s in fleet.services if s.proc is not None])
            processes.stop([n.proc for n in cluster.nodes if n.proc is not None])
