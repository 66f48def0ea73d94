"""Starting, measuring and always stopping the processes of a benchmark.

Processes are plain `subprocess.Popen` children owned by one `Processes` group, used as a
context manager around the whole run: whatever happens inside (an error, Ctrl-C, SIGTERM),
every child it started is stopped on the way out, first with SIGTERM, then SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from fengqiao.platform.embedded_nats import nats_server_binary

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_GRACE_SECONDS = 10.0
# The benchmark's own process: it submits and watches, so its CPU is the load's, not fengqiao's.
LOAD = "load (bench)"
NATS_START_SECONDS = 15.0


class BenchError(RuntimeError):
    """Something the benchmark needs did not happen in time; the message says what."""


def free_port() -> int:
    """A port nothing listens on now. Services are given fixed ports because at log level
    warning they do not log the port they bound."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` so far (its threads included), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: fields count from the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def self_cpu_seconds() -> float:
    return cpu_seconds(os.getpid())


@dataclass
class Proc:
    """One child process: `role` is what it is (intake, nats-server …), `name` unique."""

    name: str
    role: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu(self) -> float:
        try:
            return cpu_seconds(self.pid)
        except (OSError, ValueError):
            return 0.0

    def peak_rss_mb(self) -> float:
        try:
            return peak_rss_mb(self.pid)
        except OSError:
            return 0.0

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """Every process a benchmark started, stopped together on exit."""

    procs: list[Proc] = field(default_factory=list)
    _old_handler: Any = None

    def __enter__(self) -> Processes:
        # SIGTERM (a CI runner, `timeout`) unwinds like Ctrl-C, so the children are stopped.
        self._old_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop(self.procs)
        finally:
            signal.signal(signal.SIGTERM, self._old_handler or signal.SIG_DFL)

    def start(
        self,
        name: str,
        role: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        proc = Proc(name, role, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, procs: Sequence[Proc], grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM each, wait up to `grace` seconds for all, SIGKILL whoever is left."""
        for proc in procs:
            if proc.alive:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=5)
        self.procs = [p for p in self.procs if p not in procs]


async def wait_exit(proc: Proc, seconds: float) -> bool:
    """Whether `proc` exited within `seconds`."""
    deadline = time.monotonic() + seconds
    # A Popen child has nothing to await: look every tenth of a second.
    while proc.alive and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return not proc.alive


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def service_env(source: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without any FENGQIAO_* setting of the caller's, importing fengqiao
    from `source`/services first (PYTHONPATH comes before the editable install's path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(source / "services"), *filter(None, [os.environ.get("PYTHONPATH", "")])]
    )
    return env | dict(extra)


def imported_from(env: Mapping[str, str], cwd: Path) -> str:
    """Where a child started with `env` imports fengqiao from."""
    out = subprocess.run(
        python_argv("-c", "import fengqiao; print(fengqiao.__file__)"),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(Path(out.stdout.strip()).parent)


@dataclass(frozen=True)
class NatsServer:
    proc: Proc
    url: str
    monitoring_url: str


async def start_nats(processes: Processes, data_dir: Path, name: str) -> NatsServer:
    """The venv's nats-server with JetStream on a file store under `data_dir`, on free
    ports of 127.0.0.1; returns once /healthz says JetStream is up."""
    ports = data_dir / "ports"
    ports.mkdir(parents=True, exist_ok=True)
    argv = [
        str(nats_server_binary()),
        "-a", "127.0.0.1", "-p", "-1", "-m", "-1",
        "--ports_file_dir", str(ports),
        "-js", "-sd", str(data_dir / "jetstream"),
    ]  # fmt: skip
    proc = processes.start(name, "nats-server", argv, data_dir / "nats-server.log")
    ports_file = ports / f"nats-server_{proc.pid}.ports"
    deadline = time.monotonic() + NATS_START_SECONDS
    while time.monotonic() < deadline:
        if not proc.alive:
            raise BenchError(f"nats-server exited: {proc.log_tail()}")
        if ports_file.exists():
            try:
                info = json.loads(ports_file.read_text())
            except json.JSONDecodeError:
                info = None  # being written
            if info and await asyncio.to_thread(_healthy, info["monitoring"][0]):
                return NatsServer(proc, info["nats"][0], info["monitoring"][0])
        await asyncio.sleep(0.02)
    raise BenchError(f"nats-server not healthy within {NATS_START_SECONDS:g}s")


def _healthy(monitoring_url: str) -> bool:
    try:
        with urllib.request.urlopen(
            f"{monitoring_url}/healthz?js-enabled-only=true", timeout=2
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass(frozen=True)
class ConnCounts:
    """Messages a client sent to nats-server (publishes, requests, acks, fetches) and
    received from it, summed over the connections with one name."""

    sent: int
    received: int
    connections: int


async def connz(monitoring_url: str) -> dict[str, ConnCounts]:
    """Per connection name, what nats-server counted so far (/connz)."""
    data = await asyncio.to_thread(_get_json, f"{monitoring_url}/connz?limit=4096")
    out: dict[str, ConnCounts] = {}
    for conn in data.get("connections", []):
        name = str(conn.get("name") or f"unnamed-{conn.get('cid')}")
        was = out.get(name, ConnCounts(0, 0, 0))
        out[name] = ConnCounts(
            was.sent + int(conn.get("in_msgs", 0)),
            was.received + int(conn.get("out_msgs", 0)),
            was.connections + 1,
        )
    return out


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def conn_delta(
    before: Mapping[str, ConnCounts], after: Mapping[str, ConnCounts]
) -> dict[str, ConnCounts]:
    zero = ConnCounts(0, 0, 0)
    return {
        name: ConnCounts(
            now.sent - before.get(name, zero).sent,
            now.received - before.get(name, zero).received,
            now.connections,
        )
        for name, now in after.items()
    }


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat), steal
    included: time a shared virtual machine's cores were taken by its host."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    at: float
    seconds: dict[str, float]
    machine: float
    # Children of this process that have ended (py-spy after recording, say).
    ended_children: float


def sample_cpu(procs: Sequence[Proc]) -> CpuSample:
    seconds = {p.name: p.cpu() for p in procs}
    seconds[LOAD] = self_cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        time.perf_counter(),
        seconds,
        machine_busy_seconds(),
        children.ru_utime + children.ru_stime,
    )


def cpu_delta(before: CpuSample, after: CpuSample) -> dict[str, float]:
    return {name: after.seconds[name] - before.seconds.get(name, 0.0) for name in after.seconds}


@dataclass(frozen=True)
class ConsumerState:
    pending: int
    ack_pending: int
    # Deliveries acknowledged in order so far (the ack floor's consumer sequence).
    acked: int


async def jsz_consumers(monitoring_url: str) -> dict[str, ConsumerState]:
    """Every JetStream consumer by name, from /jsz: asked of the monitoring port, so that
    watching progress adds no message to any client connection."""
    data = await asyncio.to_thread(_get_json, f"{monitoring_url}/jsz?consumers=true")
    out: dict[str, ConsumerState] = {}
    for account in data.get("account_details") or ():
        for stream in account.get("stream_detail") or ():
            for consumer in stream.get("consumer_detail") or ():
                out[str(consumer["name"])] = ConsumerState(
                    int(consumer.get("num_pending", 0)),
                    int(consumer.get("num_ack_pending", 0)),
                    int((consumer.get("ack_floor") or {}).get("consumer_seq", 0)),
                )
    return out
