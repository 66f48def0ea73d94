"""`make bench`: throughput of the policy and of the submit path, each beside a ceiling
measured in the same run on the same machine. Numbers to write down, not pass/fail."""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fengqiao.convert import dispute_from_proto
from fengqiao.domain import Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.platform.bus import (
    CONSUMER_DELIVERY,
    CONSUMER_NOTIFICATION,
    CONSUMER_TRIAGE,
    KV_DISPUTES,
    NOTIFY_STREAM,
    STREAM,
    connect,
    kv_values,
)
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.logs import configure_logging
from fengqiao.platform.settings import Settings
from fengqiao.platform.store import record_from_bytes
from fengqiao.policy import CompiledPolicy, load_policy, parse_policy
from fengqiao.policy.durable_engine import DurableMatcher
from fengqiao.policy.facts import build_facts
from fengqiao.runtime import running
from fengqiao.samples import read_submission, sample_files
from fengqiao.v1 import intake_pb2, intake_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
ALL = ("intake", "triage", "notification")
POLICY = ROOT / "rules" / "triage.yaml"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def report(label: str, per_second: float, latencies: list[float] | None = None) -> None:
    line = f"  {label:<62} {per_second:>10,.0f} /s"
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        line += f"   p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms"
    print(line)


def best_rate(fn: Callable[[], object], n: int) -> float:
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - started))
    return best


def generated_policy(rules: int) -> bytes:
    """The shipped routes with `rules - 1` rules that never match, then a default."""
    head = POLICY.read_text(encoding="utf-8").split("rules:\n")[0]
    body = "".join(
        f"  - id: g{i}\n    title: 生成\n    when: {{similar_recent: {1000 + i}, "
        f"category: [labour_wages, petition]}}\n    route: local\n    reason: r\n"
        for i in range(rules - 1)
    )
    default = "  - id: d\n    title: 兜底\n    route: local\n    reason: r\n"
    return (head + "rules:\n" + body + default).encode()


def bench_policy(disputes: list[Dispute]) -> None:
    print("policy decisions on one core (best of 3):")
    policies = {
        "shipped policy": (CompiledPolicy(load_policy(POLICY)), 20_000),
        "generated 300-rule policy": (
            CompiledPolicy(parse_policy(generated_policy(300), "g")),
            3_000,
        ),
    }
    context = PolicyContext()
    cycle = itertools.cycle(disputes)
    shipped = policies["shipped policy"][0].policy
    matcher = DurableMatcher(shipped.rules, "bench")
    facts = itertools.cycle([build_facts(d, context, SUBMITTED) for d in disputes])
    report(
        "shipped policy: durable_rules match alone",
        best_rate(lambda: matcher.match(next(facts)), 20_000),
    )
    for name, (compiled, n) in policies.items():
        engine = best_rate(partial(_decide, compiled, cycle, context), n)
        report(f"{name}: durable_rules (decide)", engine)
        explained = best_rate(partial(_explain, compiled, cycle, context), n)
        report(f"{name}: plain Python with reasons (explain)", explained)


def _decide(
    compiled: CompiledPolicy, disputes: Iterator[Dispute], context: PolicyContext
) -> object:
    return compiled.decide(next(disputes), context, NOW)


def _explain(
    compiled: CompiledPolicy, disputes: Iterator[Dispute], context: PolicyContext
) -> object:
    return compiled.explain(next(disputes), context, NOW)


async def concurrently(
    call: Callable[[int], Awaitable[Any]], n: int, workers: int = 32
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for k in counter:
            started = time.perf_counter()
            await call(k)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - started), latencies


async def bench_submit(requests: list[intake_pb2.SubmitDisputeRequest]) -> None:
    print("submit path, 32 concurrent callers in the same process (all on 2 shared cores):")
    with tempfile.TemporaryDirectory() as tmp:
        nats = await EmbeddedNats.start(Path(tmp) / "nats")
        try:
            bus = await connect(nats.url, "bench")
            n = 5_000
            started = time.perf_counter()
            for k in range(n):
                await bus.js.publish("disputes.bench", b"x" * 512, headers={"Nats-Msg-Id": f"{k}"})
            report("ceiling: js.publish awaited one by one", n / (time.perf_counter() - started))
            await bus.close()
            settings = Settings(nats_url=nats.url, intake_addr="127.0.0.1:0", policy_file=POLICY)
            async with running(settings, ("intake",)) as stack:
                target = f"127.0.0.1:{stack.port('intake')}"
                async with grpc.aio.insecure_channel(target) as channel:
                    health: Any = health_pb2_grpc.HealthStub(channel)
                    intake = intake_pb2_grpc.IntakeServiceStub(channel)
                    check = health_pb2.HealthCheckRequest()
                    report("ceiling: gRPC health Check (an echo)",
                           *await concurrently(lambda _: health.Check(check), 4_000))  # fmt: skip

                    def submit(k: int) -> Awaitable[Any]:
                        request = intake_pb2.SubmitDisputeRequest()
                        request.CopyFrom(requests[k % len(requests)])
                        request.request_id = f"bench-{k}"
                        return intake.SubmitDispute(request)

                    report("SubmitDispute (validate, KV claim+create, publish)",
                           *await concurrently(submit, 2_000))  # fmt: skip
                    await bench_listing(intake, nats.url)
        finally:
            await nats.stop()


async def bench_listing(intake: intake_pb2_grpc.IntakeServiceAsyncStub, nats_url: str) -> None:
    """Reads over the 2,000 disputes just submitted, 4 concurrent callers."""
    listing = intake_pb2.ListDisputesRequest(page_size=50)
    report("ListDisputes, newest 50 of 2,000 (read model)",
           *await concurrently(lambda _: intake.ListDisputes(listing), 300, workers=4))  # fmt: skip
    stats = intake_pb2.GetStatsRequest()
    report("GetStats over 2,000 (read model)",
           *await concurrently(lambda _: intake.GetStats(stats), 300, workers=4))  # fmt: skip
    bus = await connect(nats_url, "bench-scan")
    try:
        started = time.perf_counter()
        records = [record_from_bytes(v) for v in await kv_values(bus.js, KV_DISPUTES)]
        assert len(records) == 2_000
        report(
            "before it: a scan and decode of all 2,000 per call",
            1 / (time.perf_counter() - started),
        )
        values = await kv_values(bus.js, KV_DISPUTES)
        tracemalloc.start()
        held = [record_from_bytes(v) for v in values]
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        label = "read model memory, freshly routed disputes"
        print(f"  {label:<62} {size / len(held) / 1e3:>10,.2f} MB per 1,000")
    finally:
        await bus.close()


async def bench_pipeline(requests: list[intake_pb2.SubmitDisputeRequest]) -> None:
    """Submitted → routed → every recipient told, all three services in this process."""
    print("whole pipeline, 1,000 disputes from 32 concurrent callers (one process, 2 cores):")
    with tempfile.TemporaryDirectory() as tmp:
        nats = await EmbeddedNats.start(Path(tmp) / "nats")
        try:
            async with running(settings_for_bench(nats.url), ALL) as stack:
                started = time.perf_counter()
                await submit_all(requests, stack.port("intake"), 1_000)
                await drained(nats.url)
                elapsed = time.perf_counter() - started
            report("disputes routed and told, end to end", 1_000 / elapsed)
        finally:
            await nats.stop()


async def submit_all(requests: list[intake_pb2.SubmitDisputeRequest], port: int, n: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)

        def submit(k: int) -> Awaitable[Any]:
            request = intake_pb2.SubmitDisputeRequest()
            request.CopyFrom(requests[k % len(requests)])
            request.request_id = f"pipeline-{k}"
            return intake.SubmitDispute(request)

        await concurrently(submit, n)


async def drained(nats_url: str) -> None:
    """Until triage, notification and delivery have nothing pending or unacknowledged
    (a bench may poll: it measures, it does not assert)."""
    consumers = (
        (STREAM, CONSUMER_TRIAGE),
        (STREAM, CONSUMER_NOTIFICATION),
        (NOTIFY_STREAM, CONSUMER_DELIVERY),
    )
    bus = await connect(nats_url, "bench-watch")
    try:
        while True:
            infos = [await bus.js.consumer_info(stream, name) for stream, name in consumers]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                return
            await asyncio.sleep(0.05)
    finally:
        await bus.close()


def settings_for_bench(nats_url: str) -> Settings:
    return Settings(
        nats_url=nats_url,
        intake_addr="127.0.0.1:0",
        triage_addr="127.0.0.1:0",
        notification_addr="127.0.0.1:0",
        policy_file=POLICY,
    )


def main() -> None:
    configure_logging("console", "warning")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    requests = [read_submission(p) for p in sample_files(ROOT / "rules" / "samples")]
    disputes = [replace(dispute_from_proto(r.dispute), id="x") for r in requests]
    bench_policy(disputes)
    asyncio.run(bench_submit(requests))
    asyncio.run(bench_pipeline(requests))


if __name__ == "__main__":
    main()
