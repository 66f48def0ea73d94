"""`make chaos`: fengqiao loaded while its processes are killed, and counted afterwards.

    python -m tests.chaos.run [--scenario NAME …] [--disputes N] [--callers C]

nats-server and every service run as processes of their own; callers in this process
submit N disputes (cycling `rules/samples/`), and a receiver here takes every webhook and
SMS. During the load, each scenario does what its name says:

- `single`: one process of each service; each is SIGKILLed and restarted 3 times, and
  nats-server is restarted twice (once after SIGTERM, once after SIGKILL; same store,
  same port).
- `replicas`: the same with two intake (callers spread over both, a retry going to the
  other), two triage and two notification processes.
- `cluster`: three nats-server nodes with routes, every stream and bucket at replicas 3
  (`fengqiao bus setup --replicas 3`), the services given all three URLs. One node is
  killed and later brought back; then the leader of the DISPUTES stream is killed, and
  the pause until another node leads it is measured and printed; then it comes back.
- `cut-off`: triage, then notification, is SIGSTOPped for 30 s and continued.
- `deadlines`: `cluster`'s faults with a fifth of the disputes under the drill policy
  (`tests/fixtures/fast_policy.yaml`: every step's deadline 2 s, so each dispute is
  escalated twice by its deadline timers, the last step lasting an hour): deadlines
  pending while a node and then the leader are lost still fire, each once.
- `give-up`: callers that send each submission once and never retry, while nats-server
  is restarted six times (SIGTERM and SIGKILL in turn).
- `sync-cost` (not a fault): the same short load on a fresh node with the production
  `sync_interval: always` and with nats-server's default, without faults.

Callers other than in `give-up` retry a failed call with the same `request_id`, as the
API contract says. After the load the run waits, for at most `--drain-seconds`, until the
pipeline is idle: every durable consumer of DISPUTES and NOTIFY has nothing pending and
nothing unacknowledged, every stored dispute is decided and no open step is past its
deadline (so nothing more can happen but timers due later). Then it reads
the record of truth — the `disputes` and `notifications` buckets and the `NOTIFY_DLQ`
stream, over NATS — and the receiver's log, and prints one line per scenario:

- accepted: distinct dispute ids that SubmitDispute answered to the callers.
- routed: records in `disputes` with a decision (step ≥ 1).
- lost: accepted dispute ids not routed (no record, or no decision).
- doubled: records where one step was decided twice: a decision's event id twice in the
  timeline, more than one first routing, or more decisions than steps.
- notifications: keys in `notifications` (one per dispute, event and recipient).
- delivered: notifications the receiver answered 200 at least once (by the
  `X-Fengqiao-Notification-Id` header).
- lost deliveries: notifications neither delivered nor dead-lettered.
- duplicate deliveries: answers 200 beyond the first for one notification (allowed:
  delivery is at least once, and the id is there to deduplicate).
- dead letters: distinct notifications in `NOTIFY_DLQ`.
- stranded: records in `disputes` never routed, whether or not a caller heard back.
- twins: records beyond the first for one `request_id` (a retry that made a new dispute).
- untold: routed records missing the `notified` entry of one of their steps.
- deadline escalations: escalations in the timelines that a deadline timer caused.
- missed deadlines: open records still at a step whose deadline passed over 10 s before
  the count (its timer never decided the next step).
- drain: seconds from the last answer to the callers until the pipeline was idle.

The run exits 1 if any scenario has lost, doubled, stranded, twins, untold, lost
deliveries or missed deadlines above 0, was not idle in time, or could not apply its
faults; 2 on a harness error. Every wait is bounded, and every process started is
stopped on the way out, Ctrl-C and SIGTERM included."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nats.errors

from fengqiao.platform.logs import configure_logging
from fengqiao.samples import read_submission, sample_files
from fengqiao.v1 import intake_pb2
from tests.bench.procs import BenchError, Processes
from tests.bench.stacks import ROOT
from tests.chaos import faults
from tests.chaos.faults import Applied, Fault, note
from tests.chaos.load import Load, submit_all
from tests.chaos.system import System, running
from tests.chaos.truth import Counts, count, read_truth

SCENARIOS = ("single", "replicas", "cluster", "deadlines", "cut-off", "give-up", "sync-cost")
SCENARIO_SECONDS = 1200.0


@dataclass(frozen=True)
class Options:
    scenarios: tuple[str, ...]
    disputes: int
    callers: int
    kills: int
    drain_seconds: float
    sync_disputes: int
    # Submissions a second offered under faults (0: as fast as the callers go).
    rate: float = 100.0


@dataclass(frozen=True)
class Shape:
    nodes: int
    replicas: int
    give_up: bool
    plan: Callable[[System, Applied, Options], list[Fault]]
    policy: Path = ROOT / "rules" / "triage.yaml"
    # Of `--disputes`, the share this scenario submits.
    share: float = 1.0


def _single(system: System, applied: Applied, options: Options) -> list[Fault]:
    nodes = system.nodes
    # The short form (one kill each) restarts nats-server once, the harder way.
    hows = [signal.SIGTERM, signal.SIGKILL] if options.kills > 1 else [signal.SIGKILL]
    restarts = [faults.nats_restart(nodes, how) for how in hows]
    actions = faults.interleave(faults.kills(system.fleet, options.kills), restarts)
    return faults.spread(actions, 0.05, 0.9)


def _cluster(system: System, applied: Applied, options: Options) -> list[Fault]:
    nodes = system.nodes
    return faults.spread(
        [
            faults.node_kill(nodes, "n3"),
            faults.node_back(nodes, "n3"),
            faults.leader_kill(nodes, system.js, applied),
            faults.leader_back(nodes, applied),
        ],
        0.15,
        0.8,
    )


def _cut_off(system: System, applied: Applied, options: Options) -> list[Fault]:
    fleet = system.fleet
    return faults.spread(
        [faults.cut_off(fleet, "triage"), faults.cut_off(fleet, "notification")], 0.2, 0.6
    )


def _give_up(system: System, applied: Applied, options: Options) -> list[Fault]:
    nodes = system.nodes
    hows = [signal.SIGTERM, signal.SIGKILL] * 3
    return faults.spread([faults.nats_restart(nodes, how) for how in hows], 0.1, 0.9)


SHAPES = {
    "single": Shape(1, 1, False, _single),
    "replicas": Shape(1, 2, False, _single),
    "cluster": Shape(3, 1, False, _cluster),
    "cut-off": Shape(1, 1, False, _cut_off),
    "give-up": Shape(1, 1, True, _give_up),
    # Every step's deadline is 2 s: the timers fire while the cluster loses its leader.
    "deadlines": Shape(
        3, 1, False, _cluster, ROOT / "tests" / "fixtures" / "fast_policy.yaml", 0.2
    ),
}


@dataclass
class Outcome:
    name: str
    counts: Counts | None
    applied: Applied
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.counts is not None and not self.problems()

    def problems(self) -> list[str]:
        out = self.counts.failures() if self.counts is not None else []
        if not self.applied.complete:
            out.append(f"faults applied {len(self.applied.done)} of {self.applied.planned}")
        return out

    def line(self) -> str:
        if self.counts is None:
            return f"chaos {self.name}: FAILED: {self.error}"
        extra = "".join(f", leader pause {p:.2f} s" for p in self.applied.leader_pauses_s)
        verdict = "ok" if self.ok else "FAILED: " + "; ".join(self.problems())
        return f"chaos {self.name}: {self.counts.line()}{extra} — {verdict}"


async def scenario(
    name: str,
    processes: Processes,
    tmp: Path,
    requests: list[intake_pb2.SubmitDisputeRequest],
    options: Options,
) -> Outcome:
    shape = SHAPES[name]
    applied = Applied()
    note(f"{name}: starting {shape.nodes} node(s), {shape.replicas} of each service")
    disputes = max(1, round(options.disputes * shape.share))
    async with running(
        processes, tmp / name, requests, nodes=shape.nodes, replicas=shape.replicas,
        policy=shape.policy,
    ) as system:  # fmt: skip
        plan = shape.plan(system, applied, options)
        note(f"{name}: {disputes} disputes, {options.callers} callers, {len(plan)} faults")
        load = Load()
        load_task = asyncio.create_task(
            submit_all(
                system.fleet.intakes,
                requests,
                disputes,
                options.callers,
                f"chaos-{name}-{time.time_ns()}",
                rate=options.rate,
                give_up=shape.give_up,
                load=load,
            )
        )
        try:
            await faults.apply(plan, load, disputes, applied)
            await load_task
        finally:
            if not load_task.done():
                load_task.cancel()
                await asyncio.gather(load_task, return_exceptions=True)
        note(
            f"{name}: load done: {len(load.accepted)} accepted, {load.unanswered} given up, "
            f"errors seen by callers {dict(load.errors)}; waiting for the pipeline to drain"
        )
        drain = await system.drained(options.drain_seconds)
        truth = await read_truth(system.js)
        counts = count(load.accepted.values(), truth, system.answered(), drain)
        logged = system.fleet.logged()
        if logged:
            note(f"{name}: logged by the services (warning and above): {dict(logged)}")
        if counts.stranded:
            stranded = [i for i, r in truth.records.items() if not r.HasField("decision")]
            note(f"{name}: stranded, e.g. {stranded[:3]} (`fengqiao bus show disputes ID`)")
    return Outcome(name, counts, applied)


async def sync_cost(
    processes: Processes,
    tmp: Path,
    requests: list[intake_pb2.SubmitDisputeRequest],
    options: Options,
) -> str:
    """The same unfaulted load with `sync_interval: always` and with the default."""
    parts = []
    for always in (True, False):
        label = "always" if always else "default"
        async with running(
            processes, tmp / f"sync-{label}", requests, nodes=1, replicas=1, fsync_always=always
        ) as system:
            load = await submit_all(
                system.fleet.intakes,
                requests,
                options.sync_disputes,
                options.callers,
                f"sync-{label}-{time.time_ns()}",
            )
            drain = await system.drained(options.drain_seconds)
        told = (
            f", all told after {load.ended - load.started + drain:.1f} s"
            if drain is not None
            else ", not drained"
        )
        parts.append(
            f"sync_interval {label}: {load.per_second():.0f} disputes/s accepted, "
            f"submit p99 {load.p99_ms():.0f} ms{told}"
        )
    return f"chaos sync-cost ({options.sync_disputes} disputes, no faults): " + "; ".join(parts)


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable; default: every one)",
    )
    parser.add_argument("--disputes", "-n", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of each service")
    parser.add_argument("--drain-seconds", type=float, default=240.0)
    parser.add_argument("--sync-disputes", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=100.0, help="submissions a second offered under faults"
    )
    args = parser.parse_args(argv)
    return Options(
        tuple(args.scenario or SCENARIOS),
        args.disputes,
        args.callers,
        args.kills,
        args.drain_seconds,
        args.sync_disputes,
        args.rate,
    )


async def run(options: Options, processes: Processes, tmp: Path) -> tuple[list[str], bool]:
    requests = [read_submission(p) for p in sample_files(ROOT / "rules" / "samples")]
    lines = []
    ok = True
    for name in options.scenarios:
        started = time.monotonic()
        try:
            async with asyncio.timeout(SCENARIO_SECONDS):
                if name == "sync-cost":
                    line = await sync_cost(processes, tmp, requests, options)
                else:
                    outcome = await scenario(name, processes, tmp, requests, options)
                    line, ok = outcome.line(), ok and outcome.ok
        except (BenchError, TimeoutError, nats.errors.Error) as exc:
            line, ok = (
                f"chaos {name}: FAILED: {exc or 'over ' + str(SCENARIO_SECONDS) + ' s'}",
                False,
            )
        note(f"{name}: {time.monotonic() - started:.0f} s")
        print(line, flush=True)
        lines.append(line)
    return lines, ok


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    # This process's own NATS client reconnects through every restart: only errors show,
    # on stderr, so that stdout holds the one line per scenario.
    configure_logging("console", "error")
    with tempfile.TemporaryDirectory(prefix="fq-chaos-") as tmp, Processes() as processes:
        try:
            _, ok = asyncio.run(run(options, processes, Path(tmp)))
        except KeyboardInterrupt:
            print("interrupted: stopping every process started", file=sys.stderr)
            return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
