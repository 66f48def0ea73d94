"""`make bench-scale`: the read model with a large store. Writes N dispute records straight
to the `disputes` bucket (as a bulk import would) and 100,000 notifications for one
recipient, then for SQLite and PostgreSQL: rebuild from zero, restart of intake with the
rows built until it serves reads, intake's RSS, p99 of the reads, and the submit path's
throughput (answered, and routed with every recipient told) against an empty store
measured right after it.

    .venv/bin/python -m tests.bench_scale.run [--count 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import func, select

from fengqiao.cli.report import Period
from fengqiao.domain.model import Notification, Status
from fengqiao.notification.recipients import recipient_digest
from fengqiao.platform.bus import KV_DISPUTES, KV_NOTIFICATIONS, Bus, connect
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import notification_to_proto, record_to_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.readmodel.database import create, database_url
from fengqiao.readmodel.schema import disputes
from fengqiao.samples import read_submission, sample_files
from fengqiao.v1 import intake_pb2, intake_pb2_grpc, notification_pb2, notification_pb2_grpc
from tests.bench.load import Milestones, Submitter, Watch, closed_loop
from tests.bench.procs import cpu_seconds, free_port
from tests.conftest import ROOT
from tests.postgres import running_postgres
from tests.readmodel.records import STREETS, make_record

RECIPIENT = "grid:甘州区/东街街道/一社区/网格1"
# The submit path: closed loop, as `make bench` measures it.
SUBMITS = 2000
WARM_UP = 200
CALLERS = 32
TOLD_SECONDS = 120.0
ROUNDS = 2
STOP_SECONDS = 20.0
IN_FLIGHT = 2000
CALLS = 200
START = datetime(2017, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3650


async def publish(bus: Bus, items: list[tuple[str, bytes]]) -> None:
    for i in range(0, len(items), IN_FLIGHT):
        await asyncio.gather(*(bus.js.publish(s, v) for s, v in items[i : i + IN_FLIGHT]))


async def load(bus: Bus, count: int, notifications: int) -> None:
    rng = random.Random(1)
    started = time.perf_counter()
    chunk = 50_000
    # History, as an import brings it: every record routed at least once. (One stored but
    # never routed is announced again by intake's sweeper when it starts: 100,000 of them
    # kept the whole pipeline busy through the submit measurement.)
    made = (make_record(rng, n, START, SPAN_DAYS) for n in itertools.count())
    routed = (r for r in made if r.status is not Status.RECEIVED)
    for first in range(0, count, chunk):
        records = list(itertools.islice(routed, min(chunk, count - first)))
        await publish(
            bus, [(f"$KV.{KV_DISPUTES}.{r.id}", encode(record_to_proto(r))) for r in records]
        )
    print(f"loaded {count:,} disputes in {time.perf_counter() - started:.0f} s", flush=True)
    digest = recipient_digest(RECIPIENT)
    items = []
    for n in range(notifications):
        at = START + timedelta(minutes=n)
        note = Notification(
            id=f"FQ-{n:010d}.routed-{n}.{digest}", dispute_id=f"FQ-{n:010d}", event="routed",
            recipient_id=RECIPIENT, recipient_role="grid_worker", recipient_label="网格员",
            channel="log", message=f"【分派】第{n}件纠纷请就地化解", created_at=at,
        )  # fmt: skip
        items.append((f"$KV.{KV_NOTIFICATIONS}.{note.id}", encode(notification_to_proto(note))))
    await publish(bus, items)
    print(f"loaded {notifications:,} notifications for one recipient", flush=True)


def env_for(nats_url: str, data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env |= {
        "FENGQIAO_NATS_URL": nats_url,
        "FENGQIAO_DATA_DIR": str(data_dir),
        "FENGQIAO_DATABASE_URL": database_url,
        # Free ports: gRPC binds with SO_REUSEPORT, so a service left over from a killed
        # run would silently share a fixed port and answer half the calls.
        "FENGQIAO_INTAKE_ADDR": f"127.0.0.1:{free_port()}",
        "FENGQIAO_TRIAGE_ADDR": f"127.0.0.1:{free_port()}",
        "FENGQIAO_NOTIFICATION_ADDR": f"127.0.0.1:{free_port()}",
        "FENGQIAO_LOG_LEVEL": "warning",
        "FENGQIAO_LOG_FORMAT": "json",
    }
    return env


async def fengqiao(env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    """`fengqiao ARGV…`; a service's log lines go to `<data dir>/<argv>.log` (a pipe
    nobody reads would stop it once full)."""
    if argv[0] == "readmodel":
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fengqiao", *argv, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    data = Path(env["FENGQIAO_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  # once, before the process
    with (data / f"{'-'.join(argv)}.log").open("a") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fengqiao", *argv, cwd=ROOT, env=env,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within STOP_SECONDS (said on stdout:
    a service that ignores SIGTERM is a defect, but must not hang the run)."""
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        print(f"pid {process.pid} did not stop within {STOP_SECONDS:g} s of SIGTERM: killed")
        process.kill()
        await process.wait()


def dispute_rows(env: dict[str, str]) -> int:
    url = database_url(env["FENGQIAO_DATABASE_URL"], Path(env["FENGQIAO_DATA_DIR"]))
    engine = create(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(disputes)).scalar_one())
    finally:
        engine.dispose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def p99(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


async def until_serving(stub: intake_pb2_grpc.IntakeServiceAsyncStub) -> None:
    while True:
        try:
            await stub.GetStats(intake_pb2.GetStatsRequest(street=STREETS[0]), timeout=10)
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class SubmitRound:
    """One closed loop of the submit path: disputes a second answered, and routed with
    every recipient told; and CPU milliseconds a dispute of each process (nats-server
    included) while the loop ran, which the machine's other work does not change."""

    answered: float
    told: float
    cpu_ms: dict[str, float]


async def submit_round(env: dict[str, str], nats_pid: int) -> SubmitRound:
    """SUBMITS submissions from CALLERS callers (closed loop, after a warm-up) through
    intake, triage and notification started afresh on `env`'s bus and database."""
    roles = ("intake", "triage", "notification")
    procs = {role: await fengqiao(env, role) for role in roles}
    pids = {role: p.pid for role, p in procs.items()} | {"nats-server": nats_pid}
    watch = await Watch.start(env["FENGQIAO_NATS_URL"])
    try:
        async with grpc.aio.insecure_channel(env["FENGQIAO_INTAKE_ADDR"]) as channel:
            stub: intake_pb2_grpc.IntakeServiceAsyncStub = intake_pb2_grpc.IntakeServiceStub(
                channel
            )
            await until_serving(stub)
            requests = [read_submission(p) for p in sample_files(ROOT / "rules" / "samples")]
            prefix = f"scale-{time.time_ns()}"
            await closed_loop(Submitter(stub, requests, f"{prefix}-warm"), WARM_UP, CALLERS)
            before = {role: cpu_seconds(pid) for role, pid in pids.items()}
            done = await closed_loop(Submitter(stub, requests, prefix), SUBMITS, CALLERS)
            told = await watch.wait_told(done.ids.values(), time.perf_counter() + TOLD_SECONDS)
            cpu = {r: (cpu_seconds(pid) - before[r]) * 1000 / SUBMITS for r, pid in pids.items()}
            reached = Milestones.of(done, SUBMITS, watch)
        if reached.accepted_s is None or reached.told_s is None or not told:
            raise RuntimeError(f"submissions failed or were not told in time: {done.errors}")
        return SubmitRound(SUBMITS / reached.accepted_s, SUBMITS / reached.told_s, cpu)
    finally:
        await watch.close()
        for process in procs.values():
            await stop(process)


def compare_submits(loaded: list[SubmitRound], empty: list[SubmitRound]) -> dict[str, str]:
    """The best rate of each store, and the median CPU a dispute of each process."""
    out = {}
    for label, rate in (("answered", "answered"), ("routed and every recipient told", "told")):
        best_loaded = max(getattr(r, rate) for r in loaded)
        best_empty = max(getattr(r, rate) for r in empty)
        out[f"submit, {label}: loaded / empty store"] = (
            f"{best_loaded:,.0f} / {best_empty:,.0f} per s "
            f"({(best_loaded / best_empty - 1) * 100:+.0f} %)"
        )
    for role in loaded[0].cpu_ms:
        a = statistics.median(r.cpu_ms[role] for r in loaded)
        b = statistics.median(r.cpu_ms[role] for r in empty)
        out[f"submit, CPU ms a dispute, {role}: loaded / empty"] = f"{a:.2f} / {b:.2f}"
    a = statistics.median(sum(r.cpu_ms.values()) for r in loaded)
    b = statistics.median(sum(r.cpu_ms.values()) for r in empty)
    out["submit, CPU ms a dispute, all: loaded / empty"] = (
        f"{a:.2f} / {b:.2f} ({(a / b - 1) * 100:+.0f} %)"
    )
    return out


async def measure(
    name: str, env: dict[str, str], nats_pid: int, count: int, empty_url: str = ""
) -> dict[str, str]:
    """`nats_pid`: the loaded store's nats-server; `empty_url`: a database of the same
    kind, empty, for the submit path's baseline."""
    out: dict[str, str] = {}
    started = time.perf_counter()
    rebuild = await fengqiao(env, "readmodel", "rebuild")
    stdout, _ = await rebuild.communicate()
    seconds = time.perf_counter() - started
    print(stdout.decode(), flush=True)
    out["rebuild from zero (disputes + notifications)"] = (
        f"{seconds:.0f} s, {count / seconds:,.0f} disputes/s"
    )
    rows = await asyncio.to_thread(dispute_rows, env)
    # Every key of the bucket is a row: a follower that thinks itself caught up too soon
    # shows here (it once stopped at 999,999 of 1,000,000).
    out["dispute rows after the rebuild"] = f"{rows:,} of {count:,}" + (
        "" if rows == count else "  MISSING ROWS"
    )
    started = time.perf_counter()
    intake = await fengqiao(env, "intake")
    notification = await fengqiao(env, "notification")
    try:
        async with (
            grpc.aio.insecure_channel(env["FENGQIAO_INTAKE_ADDR"]) as ic,
            grpc.aio.insecure_channel(env["FENGQIAO_NOTIFICATION_ADDR"]) as nc,
        ):
            stub: intake_pb2_grpc.IntakeServiceAsyncStub = intake_pb2_grpc.IntakeServiceStub(ic)
            await until_serving(stub)
            out["restart → serving reads"] = f"{time.perf_counter() - started:.1f} s"
            street = STREETS[0]
            month = Period(date(2024, 3, 1), date(2024, 3, 31)).request(street, "")
            year = Period(date(2024, 1, 1), date(2024, 12, 31)).request(street, "")
            stats_requests = {
                "street": intake_pb2.GetStatsRequest(street=street),
                "street, one month": month,
                "street, one year": year,
            }
            for label, stats_request in stats_requests.items():
                p50, worst = await p99(partial(stub.GetStats, stats_request))
                out[f"GetStats ({label})"] = f"p50 {p50:.1f} ms, p99 {worst:.1f} ms"
            first = intake_pb2.ListDisputesRequest(street=street, page_size=50)
            p50, worst = await p99(lambda: stub.ListDisputes(first))
            out["ListDisputes (street, 50, page 1)"] = f"p50 {p50:.1f} ms, p99 {worst:.1f} ms"
            token = ""
            for _ in range(99):
                token = (await stub.ListDisputes(intake_pb2.ListDisputesRequest(
                    street=street, page_size=50, page_token=token))).next_page_token  # fmt: skip
            deep = intake_pb2.ListDisputesRequest(street=street, page_size=50, page_token=token)
            p50, worst = await p99(lambda: stub.ListDisputes(deep))
            out["ListDisputes (street, 50, page 100)"] = f"p50 {p50:.1f} ms, p99 {worst:.1f} ms"
            notes: notification_pb2_grpc.NotificationServiceAsyncStub = (
                notification_pb2_grpc.NotificationServiceStub(nc)
            )
            listing = notification_pb2.ListNotificationsRequest(
                recipient_id=RECIPIENT, page_size=50
            )
            while True:
                try:
                    await notes.ListNotifications(listing)
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
            p50, worst = await p99(partial(notes.ListNotifications, listing))
            out["ListNotifications (recipient with 100,000, 50)"] = (
                f"p50 {p50:.1f} ms, p99 {worst:.1f} ms"
            )
            assert intake.pid is not None
            out["intake RSS"] = f"{rss_mb(intake.pid):.0f} MB"
    finally:
        for process in (intake, notification):
            await stop(process)
    # The submit path, with the store loaded and with an empty one beside it (its own
    # nats-server and database), in turns A B B A so neither always runs first; the best
    # rate of each, as the machine's other work comes and goes, and the CPU each used.
    empty_root = Path(env["FENGQIAO_DATA_DIR"]).parent / f"empty-{name}"
    empty_nats = await EmbeddedNats.start(empty_root / "nats")
    rounds: dict[str, list[SubmitRound]] = {"loaded": [], "empty": []}
    try:
        empty_env = env_for(empty_nats.url, empty_root / "data", empty_url)
        stores = {
            "loaded": (env, nats_pid),
            "empty": (empty_env, empty_nats.process.pid),
        }
        for turn in range(ROUNDS):
            for store in ("loaded", "empty") if turn % 2 == 0 else ("empty", "loaded"):
                rounds[store].append(await submit_round(*stores[store]))
    finally:
        await empty_nats.stop()
    out |= compare_submits(rounds["loaded"], rounds["empty"])
    print(f"\n== {name}, {count:,} disputes ==")
    for key, value in out.items():
        print(f"{key:60} {value}")
    return out


async def main(count: int, notifications: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="fengqiao-bench-scale-"))
    nats = await EmbeddedNats.start(root / "nats")
    try:
        bus = await connect(nats.url, "bench")
        try:
            await load(bus, count, notifications)
        finally:
            await bus.close()
        # Then nats-server starts again on the store, as after an import or an upgrade. The
        # process that took in a million writes in minutes kept a heap whose collection
        # cost it 0.2 to 0.5 ms more CPU a dispute afterwards (its pprof profile: a tenth of
        # the samples in the garbage collector's scan); started on the same store, it
        # costs what it costs with an empty one (README, "Benchmarks").
        await nats.stop()
        nats = await EmbeddedNats.start(root / "nats")
        results = {
            "SQLite": await measure(
                "SQLite", env_for(nats.url, root / "sqlite", ""), nats.process.pid, count
            )
        }
        with running_postgres() as pg:
            url = pg.new_database()
            # The SQLite run's submissions are stored too.
            stored = count + ROUNDS * (WARM_UP + SUBMITS)
            results["PostgreSQL"] = await measure(
                "PostgreSQL",
                env_for(nats.url, root / "pg", url),
                nats.process.pid,
                stored,
                pg.new_database(),
            )
        print(f"\n{'':60} {'SQLite':36} PostgreSQL")
        for key in results["SQLite"]:
            print(f"{key:60} {results['SQLite'][key]:36} {results['PostgreSQL'].get(key, '')}")
    finally:
        await nats.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=int(os.environ.get("BENCH_SCALE_COUNT", "1000000"))
    )
    parser.add_argument("--notifications", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.notifications))
