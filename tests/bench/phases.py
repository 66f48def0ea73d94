"""One measured phase each: a fresh stack, a warm-up, the load, and what every process
spent on it (CPU, peak memory, messages to and from nats-server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.bench import floor, profile
from tests.bench.ceilings import Rate, grpc_echo
from tests.bench.load import (
    Milestones,
    Submissions,
    Submitter,
    Watch,
    closed_loop,
    latencies_ms,
    open_loop,
)
from tests.bench.procs import (
    ConnCounts,
    CpuSample,
    Processes,
    conn_delta,
    connz,
    cpu_delta,
    jsz_consumers,
    sample_cpu,
)
from tests.bench.stacks import Stack, start_fengqiao, start_floor
from tests.bench.stats import Latencies

CALLERS = 32
WARM_UP = 48
WARM_UP_SECONDS = 90.0
DRAIN_SECONDS = 20.0
PROFILE_DELAY_SECONDS = 1.5
SERVICES = ("intake", "triage", "notification")


@dataclass(frozen=True)
class Cost:
    """One process's CPU over a phase, per dispute, and its peak memory."""

    name: str
    role: str
    cpu_ms_per_dispute: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Requests:
    """Messages one service (all its connections) sent to and received from nats-server,
    per dispute."""

    name: str
    sent: float
    received: float
    connections: int


@dataclass
class Measured:
    n: int
    elapsed_s: float
    costs: list[Cost] = field(default_factory=list)
    requests: list[Requests] = field(default_factory=list)
    drained: bool = True
    # Cores busy on the whole machine during the phase, on average, and how many of them
    # went to processes this benchmark did not start (others' work on a shared machine).
    machine_cores: float = 0.0
    other_cores: float = 0.0

    def total_cpu_ms(self) -> float:
        return sum(c.cpu_ms_per_dispute for c in self.costs if c.role != "load")


@dataclass
class FloorResult:
    measured: Measured
    accepted: float
    routed: float | None
    told: float | None
    delivered: float | None


@dataclass
class ClosedResult:
    label: str
    measured: Measured
    milestones: Milestones
    submit: Latencies
    decision: Latencies
    told: Latencies
    errors: dict[str, int]
    echo: Rate | None = None
    profiles: profile.Profiles | None = None
    services_from: str = ""

    def heaviest(self) -> str:
        """The Python service that spent the most CPU per dispute in the phase."""
        services = [c for c in self.measured.costs if c.role in SERVICES]
        return max(services, key=lambda c: c.cpu_ms_per_dispute).name if services else ""

    def rate(self, seconds: float | None) -> float | None:
        return self.measured.n / seconds if seconds else None


@dataclass
class OpenResult:
    rate: float
    seconds: float
    measured: Measured
    offered: int
    accepted: int
    routed: int
    told: int
    decision: Latencies
    told_latency: Latencies
    errors: dict[str, int]


class Phase:
    """Measures the processes of `stack` from `begin()` to `end(n)`."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._cpu: CpuSample | None = None
        self._conns: dict[str, ConnCounts] = {}

    async def begin(self) -> None:
        self._conns = await connz(self.stack.nats.monitoring_url)
        self._cpu = sample_cpu(self.stack.procs)

    async def end(self, n: int, drained: bool = True) -> Measured:
        assert self._cpu is not None
        after = sample_cpu(self.stack.procs)
        conns = conn_delta(self._conns, await connz(self.stack.nats.monitoring_url))
        spent = cpu_delta(self._cpu, after)
        by_name = {p.name: p for p in self.stack.procs}
        costs = []
        for name, seconds in spent.items():
            proc = by_name.get(name)
            role = proc.role if proc is not None else "load"
            rss = proc.peak_rss_mb() if proc is not None else 0.0
            costs.append(Cost(name, role, seconds * 1000 / n, rss))
        requests = [
            Requests(name, c.sent / n, c.received / n, c.connections)
            for name, c in sorted(conns.items())
        ]
        elapsed = after.at - self._cpu.at
        busy = (after.machine - self._cpu.machine) / elapsed
        ended = after.ended_children - self._cpu.ended_children
        ours = (sum(spent.values()) + ended) / elapsed
        return Measured(n, elapsed, costs, requests, drained, busy, max(busy - ours, 0.0))


async def settled(stack: Stack, deadline: float) -> bool:
    """Until no consumer of any stream has anything pending or unacknowledged (the last
    notifications delivered, read models caught up), so each phase pays for all its work."""
    while time.perf_counter() < deadline:
        consumers = await jsz_consumers(stack.nats.monitoring_url)
        if all(c.pending == 0 and c.ack_pending == 0 for c in consumers.values()):
            return True
        await asyncio.sleep(0.1)
    return False


def _stub(channel: grpc.aio.Channel) -> intake_pb2_grpc.IntakeServiceAsyncStub:
    return intake_pb2_grpc.IntakeServiceStub(channel)


async def floor_phase(
    processes: Processes,
    tmp: Path,
    requests: Sequence[intake_pb2.SubmitDisputeRequest],
    n: int,
) -> FloorResult:
    stack = await start_floor(processes, tmp)
    try:
        async with grpc.aio.insecure_channel(stack.intake) as channel:
            stub = _stub(channel)
            await closed_loop(Submitter(stub, requests, "floor-warm"), WARM_UP, CALLERS)
            await settled(stack, time.perf_counter() + WARM_UP_SECONDS)
            base = await jsz_consumers(stack.nats.monitoring_url)
            phase = Phase(stack)
            await phase.begin()
            done = await closed_loop(Submitter(stub, requests, "floor"), n, CALLERS)
            expected = {
                "floor-triage": n,
                "floor-notification": n,
                "floor-delivery": n * floor.RECIPIENTS,
            }
            reached: dict[str, float] = {}
            deadline = time.perf_counter() + DRAIN_SECONDS + n / 20
            while len(reached) < len(expected) and time.perf_counter() < deadline:
                now = await jsz_consumers(stack.nats.monitoring_url)
                for name, count in expected.items():
                    acked = now[name].acked - base[name].acked
                    if name not in reached and acked >= count:
                        reached[name] = time.perf_counter()
                await asyncio.sleep(0.02)
            measured = await phase.end(n, drained=len(reached) == len(expected))

        def rate(name: str) -> float | None:
            return n / (reached[name] - done.started) if name in reached else None

        return FloorResult(
            measured,
            accepted=n / (done.last_answer - done.started),
            routed=rate("floor-triage"),
            told=rate("floor-notification"),
            delivered=rate("floor-delivery"),
        )
    finally:
        processes.stop(stack.procs)


@dataclass(frozen=True)
class Fengqiao:
    """How to start fengqiao for a phase."""

    source: Path
    tmp: Path
    requests: Sequence[intake_pb2.SubmitDisputeRequest]
    extra_env: Mapping[str, str]

    async def start(self, processes: Processes, name: str, replicas: int = 1) -> Stack:
        counts = {"intake": 1, "triage": replicas, "notification": replicas}
        return await start_fengqiao(processes, self.source, self.tmp / name, counts, self.extra_env)


async def _warm_up(
    stack: Stack,
    stub: intake_pb2_grpc.IntakeServiceAsyncStub,
    watch: Watch,
    requests: Sequence[intake_pb2.SubmitDisputeRequest],
) -> None:
    """Every sample through the whole pipeline twice: connections, caches and lazily
    imported code are warm before anything is measured."""
    done = await closed_loop(Submitter(stub, requests, "warm"), WARM_UP, CALLERS)
    await watch.wait_told(done.ids.values(), time.perf_counter() + WARM_UP_SECONDS)
    await settled(stack, time.perf_counter() + DRAIN_SECONDS)


async def fengqiao_closed(
    processes: Processes,
    how: Fengqiao,
    n: int,
    *,
    label: str,
    replicas: int = 1,
    echo: bool = False,
    profile_seconds: float = 0.0,
    limit_seconds: float = 150.0,
) -> ClosedResult:
    """`n` disputes from CALLERS concurrent callers: how fast they are accepted, routed and
    everyone told, and what that cost each process."""
    stack = await how.start(processes, label, replicas)
    watch = await Watch.start(stack.nats.url)
    profiling: asyncio.Task[profile.Profiles] | None = None
    try:
        async with grpc.aio.insecure_channel(stack.intake) as channel:
            stub = _stub(channel)
            echo_rate = await grpc_echo(stack.intake) if echo else None
            await _warm_up(stack, stub, watch, how.requests)
            phase = Phase(stack)
            await phase.begin()
            loop = asyncio.create_task(
                closed_loop(Submitter(stub, how.requests, label), n, CALLERS)
            )
            if profile_seconds:
                await asyncio.sleep(PROFILE_DELAY_SECONDS)
                profiling = asyncio.create_task(
                    profile.record(processes, stack.services, profile_seconds, how.tmp / label)
                )
            done = await loop
            all_told = await watch.wait_told(done.ids.values(), done.started + limit_seconds)
            drained = all_told and await settled(stack, time.perf_counter() + DRAIN_SECONDS)
            measured = await phase.end(n, drained)
        spied = await profiling if profiling is not None else None
        milestones = Milestones.of(done, n, watch)
        return ClosedResult(
            label,
            measured,
            milestones,
            Latencies.of(
                [(done.answered_at[k] - done.sent_at[k]) * 1000 for k in done.answered_at],
                n - done.accepted,
            ),
            Latencies.of(*latencies_ms(done, watch.routed)),
            Latencies.of(*latencies_ms(done, watch.told)),
            dict(done.errors),
            echo_rate,
            spied,
        )
    finally:
        if profiling is not None and not profiling.done():
            profiling.cancel()
        await watch.close()
        processes.stop(stack.procs)


async def fengqiao_open(
    processes: Processes, how: Fengqiao, rate: float, seconds: float, drain: float
) -> OpenResult:
    """Submissions launched at `rate` a second for `seconds` whatever the answers; then at
    most `drain` seconds for the pipeline to finish them."""
    label = f"open-{rate:g}"
    stack = await how.start(processes, label)
    watch = await Watch.start(stack.nats.url)
    try:
        async with grpc.aio.insecure_channel(stack.intake) as channel:
            stub = _stub(channel)
            await _warm_up(stack, stub, watch, how.requests)
            phase = Phase(stack)
            await phase.begin()
            done: Submissions = await open_loop(
                Submitter(stub, how.requests, label), rate, seconds, drain
            )
            await watch.wait_told(done.ids.values(), done.started + seconds + drain)
            measured = await phase.end(len(done.sent_at), drained=False)
        ids = set(done.ids.values())
        return OpenResult(
            rate,
            seconds,
            measured,
            offered=len(done.sent_at),
            accepted=done.accepted,
            routed=len(ids & watch.routed.keys()),
            told=len(ids & watch.told.keys()),
            decision=Latencies.of(*latencies_ms(done, watch.routed)),
            told_latency=Latencies.of(*latencies_ms(done, watch.told)),
            errors=dict(done.errors),
        )
    finally:
        await watch.close()
        processes.stop(stack.procs)
