"""What each scenario does to the running system, and when: every fault is due once a
share of the submissions has been handled (not at a wall-clock time), so a slow machine
gets the same faults at the same points of the load."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext

from fengqiao.platform.bus import STREAM
from tests.bench.procs import BenchError
from tests.chaos.fleet import Fleet, Service
from tests.chaos.load import Load
from tests.chaos.nodes import Nodes

# Between two faults the load must move on by one step within this; else it is stuck.
PROGRESS_SECONDS = 300.0
ELECTION_SECONDS = 60.0
CUT_OFF_SECONDS = 30.0


@dataclass(frozen=True)
class Fault:
    at: float  # share of the submissions handled when it is due
    name: str
    act: Callable[[], Awaitable[str]]  # returns what it did, for the report


@dataclass
class Applied:
    done: list[str] = field(default_factory=list)
    planned: int = 0
    leader_pauses_s: list[float] = field(default_factory=list)
    killed_leader: str = ""

    @property
    def complete(self) -> bool:
        return len(self.done) == self.planned


def note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


async def apply(plan: list[Fault], load: Load, n: int, applied: Applied) -> None:
    """Each fault of `plan` in order, once its share of the `n` submissions is handled."""
    applied.planned = len(plan)
    for fault in sorted(plan, key=lambda f: f.at):
        due = max(1, round(fault.at * n))
        if not await load.reached(due, PROGRESS_SECONDS):
            if load.ended:
                note(f"load ended before {fault.name} was due ({due}): not applied")
                return
            raise BenchError(
                f"stuck: {load.processed} of {n} submissions handled, "
                f"none more within {PROGRESS_SECONDS:g}s (waiting to apply {fault.name})"
            )
        started = time.monotonic()
        at = load.processed
        what = await fault.act()
        took = time.monotonic() - started
        applied.done.append(what)
        note(f"{at:>6} handled: {what} ({took:.1f} s; {load.processed} handled after)")


def kills(fleet: Fleet, times: int) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
    """SIGKILL and restart of each role `times` times, replicas taken in turn."""
    out = []
    for round_ in range(times):
        for role in ("triage", "intake", "notification"):
            replicas = fleet.of(role)
            service = replicas[round_ % len(replicas)]
            out.append((f"kill {service.name}", _kill(fleet, service)))
    return out


def _kill(fleet: Fleet, service: Service) -> Callable[[], Awaitable[str]]:
    async def act() -> str:
        await fleet.kill_and_restart(service)
        return f"SIGKILL {service.name}, restarted"

    return act


def nats_restart(nodes: Nodes, how: signal.Signals) -> tuple[str, Callable[[], Awaitable[str]]]:
    node = nodes.nodes[0]

    async def act() -> str:
        await nodes.restart(node, how)
        return f"nats-server {node.name} {how.name}, restarted on the same port and store"

    return (f"nats {how.name}", act)


def spread(
    actions: list[tuple[str, Callable[[], Awaitable[str]]]], first: float, last: float
) -> list[Fault]:
    """The actions at even shares between `first` and `last` of the load."""
    if len(actions) == 1:
        return [Fault(first, *actions[0])]
    step = (last - first) / (len(actions) - 1)
    return [Fault(first + i * step, name, act) for i, (name, act) in enumerate(actions)]


def interleave(
    kill_actions: list[tuple[str, Callable[[], Awaitable[str]]]],
    restarts: list[tuple[str, Callable[[], Awaitable[str]]]],
) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
    """Nats restarts placed evenly among the kills."""
    out = list(kill_actions)
    gap = max(len(out) // (len(restarts) + 1), 1)
    for i, restart in enumerate(restarts):
        out.insert(min((i + 1) * gap + i, len(out)), restart)
    return out


def cut_off(fleet: Fleet, role: str) -> tuple[str, Callable[[], Awaitable[str]]]:
    service = fleet.of(role)[0]

    async def act() -> str:
        await fleet.cut_off(service, CUT_OFF_SECONDS)
        return f"SIGSTOP {service.name} for {CUT_OFF_SECONDS:g} s, then SIGCONT"

    return (f"cut off {service.name}", act)


async def stream_leader(
    js: JetStreamContext, stream: str = STREAM
) -> tuple[str, datetime | None] | None:
    """The server leading `stream`, and since when (as the server says); None while no
    node answers for it."""
    try:
        info = await js.stream_info(stream)
    except (TimeoutError, nats.errors.Error):
        return None
    if info.cluster is None or not info.cluster.leader:
        return None
    return info.cluster.leader, info.cluster.leader_since


def node_kill(nodes: Nodes, name: str) -> tuple[str, Callable[[], Awaitable[str]]]:
    node = nodes.named(name)

    async def act() -> str:
        await nodes.stop(node, signal.SIGKILL)
        return f"SIGKILL nats-server {name} (left down)"

    return (f"kill node {name}", act)


def node_back(nodes: Nodes, name: str) -> tuple[str, Callable[[], Awaitable[str]]]:
    node = nodes.named(name)

    async def act() -> str:
        await nodes.start(node)
        return f"nats-server {name} back on its port and store"

    return (f"bring back {name}", act)


def leader_kill(
    nodes: Nodes, js: JetStreamContext, applied: Applied
) -> tuple[str, Callable[[], Awaitable[str]]]:
    """SIGKILL the node leading the DISPUTES stream, and time the election of the next."""

    async def act() -> str:
        found = await stream_leader(js)
        if found is None:
            raise BenchError(f"{STREAM} has no leader to kill")
        leader = found[0]
        await nodes.stop(nodes.named(leader), signal.SIGKILL)
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        applied.killed_leader = leader
        while time.monotonic() - killed < ELECTION_SECONDS:
            now = await stream_leader(js)
            if now is not None and now[0] != leader:
                seen = time.monotonic() - killed
                # The server's own time of the election; what this client saw includes its
                # reconnecting to another node and the requests that timed out meanwhile.
                since = now[1]
                pause = (since - killed_at).total_seconds() if since is not None else seen
                applied.leader_pauses_s.append(pause)
                return (
                    f"SIGKILL {STREAM} leader {leader}; {now[0]} leads {pause:.2f} s later "
                    f"(seen by this client after {seen:.2f} s)"
                )
            await asyncio.sleep(0.05)
        raise BenchError(f"no new {STREAM} leader within {ELECTION_SECONDS:g}s of killing {leader}")

    return ("kill the leader", act)


def leader_back(nodes: Nodes, applied: Applied) -> tuple[str, Callable[[], Awaitable[str]]]:
    """Bring back the node `leader_kill` killed."""

    async def act() -> str:
        node = nodes.named(applied.killed_leader)
        await nodes.start(node)
        return f"nats-server {node.name} (the killed leader) back on its port and store"

    return ("bring back the killed leader", act)
