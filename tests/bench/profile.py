"""Where a running service spends its time: `py-spy record` for some seconds, then the
functions with the most samples, by self time and, for fengqiao's, nats-py's and
protobuf's own frames, inclusive time."""

from __future__ import annotations

import re
import resource
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.procs import Proc, Processes, wait_exit

SAMPLE_RATE = 100
WAIT_BEYOND_DURATION_SECONDS = 20.0
# A raw line: `frame;frame;…;frame COUNT`, each frame `function (file:line)`.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Where installed and project modules live: cut, so `nats/js/kv.py` reads as such.
_PREFIXES = (
    re.compile(r"^.*(site-packages/|/services/)"),
    re.compile(r"^.*lib/python3\.\d+/"),
)
# Where one unit of a service's work starts: an asyncio callback or coroutine step, a job
# of a thread pool; or, for the event loop's own work (polling), its iteration.
STEP_FRAMES = ("Handle._run", "_WorkItem.run", "BaseEventLoop._run_once")
OWN = ("fengqiao/", "nats/", "google/protobuf/", "grpc/")


@dataclass
class Profile:
    target: str
    samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    problem: str = ""

    def top_self(self, n: int = 12) -> list[tuple[str, int]]:
        return self.self_time.most_common(n)

    def top_inclusive(self, n: int = 12) -> list[tuple[str, int]]:
        own = Counter({f: c for f, c in self.inclusive.items() if any(o in f for o in OWN)})
        return own.most_common(n)


@dataclass
class Profiles:
    by_name: dict[str, Profile]
    seconds: float
    # What the py-spy processes themselves used meanwhile (they share the two cores).
    spy_cpu_seconds: float


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(
    processes: Processes, targets: Sequence[Proc], seconds: float, out_dir: Path
) -> Profiles:
    """Sample each of `targets` for `seconds`, all at once, without pausing them
    (--nonblocking keeps the services' pace); py-spy leaves idle frames out. Profiling
    every service, not a guessed one, lets the heaviest be chosen from the phase's CPU."""
    binary = py_spy()
    if binary is None:
        problem = "py-spy is not installed (pip install py-spy)"
        return Profiles({t.name: Profile(t.name, problem=problem) for t in targets}, 0.0, 0.0)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    spies = []
    for target in targets:
        out = out_dir / f"py-spy-{target.name}.raw"
        argv = [
            binary, "record", "--pid", str(target.pid), "--duration", str(int(seconds)),
            "--rate", str(SAMPLE_RATE), "--nonblocking", "--function", "--full-filenames",
            "--format", "raw", "--output", str(out),
        ]  # fmt: skip
        spy = processes.start(f"py-spy {target.name}", "py-spy", argv, out.with_suffix(".log"))
        spies.append((target, spy, out))
    for _, spy, _ in spies:
        await wait_exit(spy, seconds + WAIT_BEYOND_DURATION_SECONDS)
    processes.stop([spy for _, spy, _ in spies])
    # Only the spies ended meanwhile, so the children's usage grew by theirs alone.
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = spent.ru_utime + spent.ru_stime - children.ru_utime - children.ru_stime
    profiles = {target.name: _read(spy, out, target.name) for target, spy, out in spies}
    return Profiles(profiles, seconds, cpu)


def _read(proc: Proc, out: Path, target: str) -> Profile:
    if proc.popen.returncode != 0 or not out.exists():
        return Profile(
            target,
            problem=f"py-spy could not record (exit {proc.popen.returncode}): "
            f"{proc.log_tail(3).strip()}",
        )
    return aggregate(out.read_text(errors="replace"), target)


def aggregate(raw: str, target: str) -> Profile:
    profile = Profile(target)
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";")]
        profile.samples += count
        profile.self_time[frames[-1]] += count
        # Inclusive time counts from the innermost event-loop step or thread-pool job down:
        # the frames above it (the entry point, the loop's run) are on nearly every stack.
        steps = [i for i, f in enumerate(frames) if f.split(" ", 1)[0] in STEP_FRAMES]
        for name in set(frames[steps[-1] + 1 if steps else 0 :]):
            profile.inclusive[name] += count
    return profile


def _name(frame: str) -> str:
    """`function (path/to/module.py)`, the path cut to what follows site-packages/services."""
    found = _FRAME.match(frame)
    if not found:
        return frame
    path = found["file"]
    for prefix in _PREFIXES:
        path, cut = prefix.subn("", path)
        if cut:
            break
    return f"{found['function']} ({path})"
