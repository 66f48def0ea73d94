"""nats-server nodes the chaos run can kill and bring back: each on fixed loopback ports
and its own store directory, so a restarted node is the same server to its clients and
to the other nodes of a cluster (`routes`)."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from fengqiao.platform.embedded_nats import nats_server_binary
from tests.bench.procs import BenchError, Proc, Processes, free_port

START_SECONDS = 60.0
STOP_SECONDS = 15.0
CLUSTER = "fengqiao-chaos"


@dataclass
class Node:
    """One nats-server: `name` is its server name (what `cluster.leader` says)."""

    name: str
    directory: Path
    port: int
    monitoring_port: int
    cluster_port: int
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitoring_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive


@dataclass
class Nodes:
    """A single node or a cluster of several, all on 127.0.0.1."""

    processes: Processes
    nodes: list[Node]
    # `sync_interval: always` (fsync every write, the production setting) or the default.
    fsync_always: bool = True
    restarts: list[str] = field(default_factory=list)

    @classmethod
    def plan(cls, processes: Processes, tmp: Path, count: int, *, fsync_always: bool) -> Nodes:
        nodes = [
            Node(f"n{i + 1}", tmp / f"n{i + 1}", free_port(), free_port(), free_port())
            for i in range(count)
        ]
        return cls(processes, nodes, fsync_always)

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (FENGQIAO_NATS_URL)."""
        return ",".join(n.url for n in self.nodes)

    @property
    def clustered(self) -> bool:
        return len(self.nodes) > 1

    def named(self, name: str) -> Node:
        (node,) = [n for n in self.nodes if n.name == name]
        return node

    def _config(self, node: Node) -> Path:
        lines = [
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f"http: 127.0.0.1:{node.monitoring_port}",
            "jetstream {",
            f'  store_dir: "{node.directory / "jetstream"}"',
            *(["  sync_interval: always"] if self.fsync_always else []),
            "}",
        ]
        if self.clustered:
            routes = ", ".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes)
            lines += [
                "cluster {",
                f"  name: {CLUSTER}",
                f"  listen: 127.0.0.1:{node.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        path = node.directory / "nats.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start_all(self) -> None:
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            self._launch(node)
        await asyncio.gather(*(self.ready(n) for n in self.nodes))

    def _launch(self, node: Node) -> None:
        argv = [str(nats_server_binary()), "-c", str(self._config(node))]
        node.proc = self.processes.start(
            node.name, "nats-server", argv, node.directory / "nats-server.log"
        )

    async def ready(self, node: Node) -> None:
        """Until the node's /healthz says ok: on a cluster that means JetStream has a meta
        leader and the node's streams are current, not only that it listens."""
        query = "" if self.clustered else "?js-enabled-only=true"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if node.proc is None or not node.proc.alive:
                tail = node.proc.log_tail() if node.proc else ""
                raise BenchError(f"nats-server {node.name} exited:\n{tail}")
            if await asyncio.to_thread(_ok, f"{node.monitoring_url}/healthz{query}"):
                return
            await asyncio.sleep(0.1)
        raise BenchError(f"nats-server {node.name} not healthy within {START_SECONDS:g}s")

    async def stop(self, node: Node, how: signal.Signals) -> None:
        """SIGTERM (an orderly shutdown) or SIGKILL; returns once the process is gone."""
        proc = node.proc
        if proc is None or not proc.alive:
            return
        proc.popen.send_signal(how)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.popen.wait), STOP_SECONDS)
        except TimeoutError:
            raise BenchError(
                f"nats-server {node.name} still running {STOP_SECONDS:g}s after {how.name}"
            ) from None
        self.processes.stop([proc])
        self.restarts.append(f"{node.name} {how.name}")

    async def start(self, node: Node) -> None:
        """Bring a stopped node back on its ports and store."""
        self._launch(node)
        await self.ready(node)

    async def restart(self, node: Node, how: signal.Signals) -> None:
        await self.stop(node, how)
        await self.start(node)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
