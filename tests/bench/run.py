"""`make bench`: fengqiao in the shape it is deployed in — nats-server and each service a
process of its own, loaded over gRPC from this process — beside ceilings and a floor
measured in the same run on the same machine. Numbers to write down, not pass/fail.

    python -m tests.bench.run [--source DIR] [--disputes N] [--service-env K=V …]
    python -m tests.bench.run --only replay [--replay-count N]   (the replay timing alone)

`--source` benchmarks the services (and policy code) of another checkout, e.g. a
`git worktree` of an earlier commit: its `services/` is put first on the services'
PYTHONPATH. Every figure is also written to var/bench/<timestamp>.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fengqiao.samples import read_submission, sample_files
from tests.bench import replay, report
from tests.bench.ceilings import js_publish
from tests.bench.phases import (
    ClosedResult,
    Fengqiao,
    fengqiao_closed,
    fengqiao_open,
    floor_phase,
)
from tests.bench.procs import (
    BenchError,
    Processes,
    imported_from,
    python_argv,
    service_env,
    start_nats,
)
from tests.bench.stacks import ROOT

DISPUTES = int(os.environ.get("FENGQIAO_BENCH_DISPUTES", "1500"))
OPEN_RATES = (100.0, 200.0)
OPEN_SECONDS = 10.0
# After the last launch, how long an open loop may take to finish what it was offered.
OPEN_DRAIN_SECONDS = 25.0
PROFILE_SECONDS = 10.0
POLICY_TIMEOUT_SECONDS = 180.0
# The whole measured part; each wait inside has its own, shorter bound.
RUN_BUDGET_SECONDS = 900.0
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    source: Path
    disputes: int
    extra_env: dict[str, str]
    skip_policy: bool
    open_seconds: float
    only: str = ""
    replay_count: int = replay.COUNT


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="checkout whose services/ and rules/ to run (default: this one)",
    )
    parser.add_argument(
        "--disputes",
        "-n",
        type=int,
        default=DISPUTES,
        help="disputes per closed-loop phase (FENGQIAO_BENCH_DISPUTES)",
    )
    parser.add_argument("--open-seconds", type=float, default=OPEN_SECONDS)
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="K=V",
        help="an extra FENGQIAO_* setting for every service",
    )
    parser.add_argument("--skip-policy", action="store_true")
    parser.add_argument(
        "--only",
        choices=["replay", "closed"],
        default="",
        help="run one phase alone: the replay timing, or the closed loop with its echo "
        "ceiling and profile (for comparing two trees quickly)",
    )
    parser.add_argument(
        "--replay-count", type=int, default=replay.COUNT, help="disputes the replay timing stores"
    )
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.service_env)
    return Options(
        args.source.resolve(), args.disputes, extra, args.skip_policy, args.open_seconds,
        args.only, args.replay_count,
    )  # fmt: skip


def _git(source: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(source), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": model,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
    }


def describe_source(source: Path) -> dict[str, Any]:
    changed = _git(source, "status", "--porcelain", "--", "services")
    return {
        "path": source,
        "commit": _git(source, "rev-parse", "--short", "HEAD"),
        "uncommitted_service_files": len(changed.splitlines()) if changed else 0,
    }


def policy_rows(source: Path, tmp: Path) -> dict[str, float]:
    """The policy micro-benchmarks, in a child importing the benchmarked tree's policy."""
    out = tmp / "policy.json"
    subprocess.run(
        python_argv("-m", "tests.bench.policy", str(source / "rules"), "--json", str(out)),
        env=service_env(source, {}),
        cwd=ROOT,
        timeout=POLICY_TIMEOUT_SECONDS,
        check=True,
    )
    rows: dict[str, float] = json.loads(out.read_text())
    return rows


async def measure(
    processes: Processes, options: Options, tmp: Path, results: dict[str, Any]
) -> None:
    requests = [read_submission(p) for p in sample_files(ROOT / "rules" / "samples")]
    n = options.disputes

    closed_only = options.only == "closed"
    if not closed_only:
        await _ceilings_and_floor(processes, tmp, requests, n, results)

    async def phase(name: str, run: Awaitable[T]) -> T | None:
        return await _phase(results, name, run)

    how = Fengqiao(options.source, tmp, requests, options.extra_env)
    closed: ClosedResult | None = await phase(
        "fengqiao_closed_loop",
        fengqiao_closed(
            processes, how, n, label="closed", echo=True, profile_seconds=PROFILE_SECONDS
        ),
    )
    echo = closed.echo.per_second if closed is not None and closed.echo else None
    if closed is not None:
        closed.services_from = results["services_imported_from"]
        results["heaviest_service"] = closed.heaviest()
        report.closed(
            closed,
            echo,
            f"fengqiao, separate processes: {n:,} disputes, 32 concurrent callers (closed loop)",
        )
        report.profile(closed.profiles, closed.heaviest())
    if closed_only:
        summary(results, echo)
        return

    for rate in OPEN_RATES:
        result = await phase(
            f"fengqiao_open_loop_{rate:g}",
            fengqiao_open(processes, how, rate, options.open_seconds, OPEN_DRAIN_SECONDS),
        )
        if result is not None:
            report.open_loop(result)

    replicas = await phase(
        "fengqiao_replicas",
        fengqiao_closed(processes, how, n, label="replicas", replicas=2),
    )
    if replicas is not None:
        report.closed(
            replicas,
            echo,
            f"fengqiao with 2 triage and 2 notification processes: {n:,} disputes, 32 callers",
        )
    report.section("rules replay: a draft over the stored history (target < 60 s)")
    await phase("replay", asyncio.to_thread(replay.run, options.replay_count))
    summary(results, echo)


async def _phase(results: dict[str, Any], name: str, run: Awaitable[T]) -> T | None:
    """`run`'s value, also kept in `results[name]`; None if it failed (said in the report:
    one phase failing must not lose the others' figures)."""
    try:
        value = await run
    except Exception as exc:
        report.section(f"{name}: FAILED")
        print(f"  {exc}", flush=True)
        results[name] = {"error": str(exc)}
        return None
    results[name] = value
    return value


async def _ceilings_and_floor(
    processes: Processes, tmp: Path, requests: list[Any], n: int, results: dict[str, Any]
) -> None:
    report.section("ceilings: JetStream publish with ack (fresh nats-server, file store)")
    server = await start_nats(processes, tmp / "ceiling", "nats-server")
    try:
        one, many = await js_publish(server.url)
    finally:
        processes.stop([server.proc])
    report.rate_row("js.publish awaited one by one (512 B, Nats-Msg-Id)", one)
    report.rate_row("js.publish with 256 in flight", many)
    results["ceilings"] = {"js_publish_one_by_one": one, "js_publish_256_in_flight": many}
    floor = await _phase(results, "floor", floor_phase(processes, tmp / "floor", requests, n))
    if floor is not None:
        report.floor(floor, n)


def summary(results: dict[str, Any], echo: float | None) -> None:
    report.section("summary (disputes/s; ÷ the echo ceiling of this run)")
    if echo:
        report.row("ceiling: gRPC echo, 32 callers", report.per_second(echo))
    floor = results.get("floor")
    if floor is not None and not isinstance(floor, dict):
        report.row(
            "the floor, end to end",
            report.per_second(floor.delivered),
            f"{report.ratio(floor.delivered, echo)}  "
            f"CPU {floor.measured.total_cpu_ms():.1f} ms/dispute",
        )
    for key, label in (
        ("fengqiao_closed_loop", "fengqiao"),
        ("fengqiao_replicas", "2 triage + 2 notification processes"),
    ):
        result = results.get(key)
        if isinstance(result, ClosedResult):
            told = result.rate(result.milestones.told_s)
            report.row(
                f"{label}: routed and told",
                report.per_second(told),
                f"{report.ratio(told, echo)}  CPU {result.measured.total_cpu_ms():.1f} ms/dispute",
            )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    started = time.monotonic()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {
        "machine": machine(),
        "source": describe_source(options.source),
        "disputes": options.disputes,
    }
    m = results["machine"]
    print(f"fengqiao bench, {m['date']}")
    print(f"machine: {m['platform']}, {m['cpu']}, {m['nproc']} cores, Python {m['python']}")
    src = results["source"]
    print(
        f"source: {src['path']} at {src['commit'] or '?'}"
        f" ({src['uncommitted_service_files']} uncommitted files under services/)"
    )
    code = 0
    if options.only == "replay":
        report.section("rules replay: a draft over the stored history (target < 60 s)")
        results["replay"] = replay.run(options.replay_count)
        out = ROOT / "var" / "bench" / f"{stamp}-replay.json"
        report.write_json(out, results)
        return 0 if results["replay"]["seconds"] < replay.TARGET_SECONDS else 1
    with tempfile.TemporaryDirectory(prefix="fq-bench-") as tmp_name, Processes() as processes:
        tmp = Path(tmp_name)
        try:
            where = imported_from(service_env(options.source, {}), options.source)
            results["services_imported_from"] = where
            print(f"services import fengqiao from: {where}", flush=True)
            if not options.skip_policy:
                report.section("policy decisions on one core (best of 3)")
                try:
                    rows = policy_rows(options.source, tmp)
                except subprocess.SubprocessError as exc:
                    print(f"  FAILED: {exc}", flush=True)
                    rows = {}
                for label, rate in rows.items():
                    report.row(label, f"{rate:,.0f} /s")
                results["policy"] = rows
            asyncio.run(_bounded(measure(processes, options, tmp, results)))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping every process started", file=sys.stderr)
            code = 130
        except (BenchError, subprocess.SubprocessError, TimeoutError) as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            code = 1
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    out = ROOT / "var" / "bench" / f"{stamp}.json"
    report.write_json(out, results)
    print(f"\n{results['elapsed_s']:.0f} s in all; every figure in {out.relative_to(ROOT)}")
    return code


async def _bounded(run: Awaitable[None]) -> None:
    async with asyncio.timeout(RUN_BUDGET_SECONDS):
        await run


if __name__ == "__main__":
    sys.exit(main())
