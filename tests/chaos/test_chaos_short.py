"""The short form of `make chaos`: 500 disputes on one node while each service is
SIGKILLed once and nats-server is SIGKILLed and restarted; nothing accepted is lost,
no step is decided twice, every notification is delivered or dead-lettered."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.bench.procs import Processes
from tests.chaos.run import Options, run


def test_short_chaos_loses_nothing_and_decides_nothing_twice() -> None:
    options = Options(
        scenarios=("single",),
        disputes=500,
        callers=8,
        kills=1,
        drain_seconds=90.0,
        sync_disputes=0,
        rate=25.0,  # 20 s of load: long enough for the four faults
    )
    with tempfile.TemporaryDirectory(prefix="fq-chaos-") as tmp, Processes() as processes:
        (line,), ok = asyncio.run(run(options, processes, Path(tmp)))
    assert "accepted 500," in line, line
    assert " lost 0," in line and "doubled 0," in line, line
    assert "lost deliveries 0," in line and "stranded 0," in line, line
    assert ok, line
