"""Printing the figures as they come, and keeping them as JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from tests.bench.ceilings import Rate
from tests.bench.phases import ClosedResult, FloorResult, Measured, OpenResult
from tests.bench.profile import Profile, Profiles
from tests.bench.stats import Latencies

WIDTH = 62


def section(title: str) -> None:
    print(f"\n{title}", flush=True)


def row(label: str, value: str, extra: str = "") -> None:
    print(f"  {label:<{WIDTH}} {value:>12}{'   ' + extra if extra else ''}", flush=True)


def per_second(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.1f} /s"


def ratio(value: float | None, echo: float | None) -> str:
    if value is None or not echo:
        return ""
    return f"{value / echo:.3f} × echo"


def rate_row(label: str, rate: Rate) -> None:
    row(label, per_second(rate.per_second), rate.latencies.describe())


def costs(measured: Measured) -> None:
    print(f"    {'CPU per dispute, by process':<40}{'ms':>8}{'peak RSS MB':>14}")
    for cost in sorted(measured.costs, key=lambda c: (c.role == "load", c.name)):
        rss = f"{cost.peak_rss_mb:>14.0f}" if cost.peak_rss_mb else ""
        note = "  (the load: not counted)" if cost.role == "load" else ""
        print(f"      {cost.name:<38}{cost.cpu_ms_per_dispute:>8.2f}{rss}{note}")
    print(f"      {'all processes but the load':<38}{measured.total_cpu_ms():>8.2f}")
    print(
        f"    machine during the phase: {measured.machine_cores:.2f} of {os.cpu_count()} cores "
        f"busy on average, {measured.other_cores:.2f} of them by processes this benchmark did "
        "not start"
    )


def requests(measured: Measured) -> None:
    print(
        f"    {'messages to / from nats-server per dispute, by connection':<58}"
        f"{'sent':>8}{'received':>10}"
    )
    for r in measured.requests:
        name = r.name if r.connections == 1 else f"{r.name} (×{r.connections})"
        print(f"      {name:<56}{r.sent:>8.1f}{r.received:>10.1f}")


def floor(result: FloorResult, n: int) -> None:
    section(
        f"the floor: the same hops, no business logic, binary protobuf, batches of up to "
        f"64 handled concurrently ({n:,} disputes, 32 callers, separate processes)"
    )
    row("accepted (SubmitDispute answered)", per_second(result.accepted))
    row("routed (floor-triage acked every dispute)", per_second(result.routed))
    row("told (floor-notification acked every dispute)", per_second(result.told))
    row("end to end (floor-delivery acked every notification)", per_second(result.delivered))
    costs(result.measured)
    requests(result.measured)


def closed(result: ClosedResult, echo: float | None, title: str) -> None:
    section(title)
    if result.services_from:
        row("services imported from", "", result.services_from)
    if result.echo is not None:
        rate_row("ceiling: gRPC echo, health Check on intake, 32 callers", result.echo)
    m = result.milestones
    row(
        "accepted (SubmitDispute answered)",
        per_second(result.rate(m.accepted_s)),
        f"{ratio(result.rate(m.accepted_s), echo)}  submit {result.submit.describe()}",
    )
    row(
        "routed (the record has a decision)",
        per_second(result.rate(m.routed_s)),
        f"{ratio(result.rate(m.routed_s), echo)}  {m.routed:,} of {result.measured.n:,}",
    )
    row(
        "routed and every recipient told (timeline has `notified`)",
        per_second(result.rate(m.told_s)),
        f"{ratio(result.rate(m.told_s), echo)}  {m.told:,} of {result.measured.n:,}",
    )
    row("submit → decision", "", result.decision.describe("s"))
    row("submit → every recipient recorded", "", result.told.describe("s"))
    if errors := {k: v for k, v in result.errors.items() if v}:
        row("errors", "", ", ".join(f"{k} ×{v}" for k, v in errors.items()))
    if not result.measured.drained:
        row("NOT DRAINED", "", "work was still pending when the CPU was read")
    costs(result.measured)
    requests(result.measured)


def profile(profiles: Profiles | None, heaviest: str) -> None:
    if profiles is None:
        return
    section(
        f"profile: py-spy record, {profiles.seconds:g} s of the closed loop, every service "
        f"at once (py-spy itself used {profiles.spy_cpu_seconds:.1f} s of CPU meanwhile)"
    )
    print(
        "  (samples are of threads running or ready to run: on two busy cores `select` and\n"
        "  socket writes include time spent waiting for a core; self time in `Handle._run` is\n"
        "  native code run by the event loop, e.g. grpc's core, which py-spy does not unwind)"
    )
    for name, spied in sorted(profiles.by_name.items(), key=lambda p: p[0] != heaviest):
        top = 12 if name == heaviest else 5
        what = "the heaviest per dispute" if name == heaviest else "top entries"
        if spied.problem:
            print(f"  {name}: not recorded: {spied.problem}")
            continue
        print(f"  {name} ({what}), {spied.samples:,} samples; by self time:")
        for frame, count in spied.top_self(top):
            print(f"    {100 * count / max(spied.samples, 1):5.1f}%  {frame}")
        if name == heaviest:
            print("  by inclusive time, frames of fengqiao, nats-py, protobuf and grpc:")
            for frame, count in spied.top_inclusive(top):
                print(f"    {100 * count / max(spied.samples, 1):5.1f}%  {frame}")


def open_loop(r: OpenResult) -> None:
    section(
        f"open loop: {r.rate:g} disputes/s offered for {r.seconds:g} s "
        f"({r.offered:,} submissions launched on schedule, whatever the answers)"
    )
    row(
        "accepted / routed / told within the run",
        "",
        f"{r.accepted:,} / {r.routed:,} / {r.told:,} of {r.offered:,}",
    )
    row("submit → decision", "", r.decision.describe("s"))
    row("submit → every recipient recorded", "", r.told_latency.describe("s"))
    if r.told < r.offered:
        row(
            "FELL BEHIND",
            "",
            f"{r.offered - r.told:,} not told by the end of the run "
            "(percentiles among them: not reached)",
        )
    if errors := {k: v for k, v in r.errors.items() if v}:
        row("errors", "", ", ".join(f"{k} ×{v}" for k, v in errors.items()))
    row("CPU per offered dispute, all processes", f"{r.measured.total_cpu_ms():.1f} ms")


def latency_json(value: Latencies) -> dict[str, Any]:
    return {
        "count": value.count,
        "unfinished": value.unfinished,
        **{name: _number(v) for name, v in value.quantiles()},
    }


def _number(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else round(value, 3)


def to_json(value: Any) -> Any:
    """Results as plain JSON: infinities and NaN become null, profiles their top lists."""
    if isinstance(value, Profiles):
        return {
            "seconds": value.seconds,
            "spy_cpu_seconds": value.spy_cpu_seconds,
            "by_name": to_json(value.by_name),
        }
    if isinstance(value, Profile):
        return {
            "target": value.target,
            "samples": value.samples,
            "problem": value.problem,
            "top_self": value.top_self(),
            "top_inclusive": value.top_inclusive(),
        }
    if isinstance(value, Latencies):
        return latency_json(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(data), ensure_ascii=False, indent=2) + "\n")
