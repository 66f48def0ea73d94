"""The load: SubmitDispute from this process, closed loop (callers that wait for their
answer) or open loop (submissions launched on a fixed schedule whatever the answers), and
a watch of the `disputes` bucket saying when each dispute was routed and everyone told."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.bench.records import progress

CALL_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.02


@dataclass
class Submissions:
    """What was submitted: by submission number, when it was sent (for the open loop: when
    it was due, so a late launch counts against the system, not for it), when its answer
    came and the dispute id it got."""

    started: float
    sent_at: dict[int, float] = field(default_factory=dict)
    answered_at: dict[int, float] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return len(self.ids)

    @property
    def last_answer(self) -> float:
        return max(self.answered_at.values(), default=self.started)


class Submitter:
    """SubmitDispute over one channel, cycling the sample requests with unique request ids."""

    def __init__(
        self,
        stub: intake_pb2_grpc.IntakeServiceAsyncStub,
        requests: Sequence[intake_pb2.SubmitDisputeRequest],
        prefix: str,
    ) -> None:
        self._stub = stub
        self._requests = requests
        self._prefix = prefix

    async def submit(self, k: int, into: Submissions, sent_at: float | None = None) -> None:
        request = intake_pb2.SubmitDisputeRequest()
        request.CopyFrom(self._requests[k % len(self._requests)])
        request.request_id = f"{self._prefix}-{k}"
        into.sent_at[k] = sent_at if sent_at is not None else time.perf_counter()
        try:
            response = await self._stub.SubmitDispute(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            into.errors[exc.code().name] += 1
            return
        into.answered_at[k] = time.perf_counter()
        into.ids[k] = response.dispute_id


async def closed_loop(submitter: Submitter, n: int, callers: int) -> Submissions:
    """`n` submissions from `callers` concurrent callers, each waiting for its answer."""
    done = Submissions(time.perf_counter())
    numbers = iter(range(n))

    async def caller() -> None:
        for k in numbers:
            await submitter.submit(k, done)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return done


async def open_loop(
    submitter: Submitter, rate: float, seconds: float, answer_wait: float
) -> Submissions:
    """rate × seconds submissions launched on schedule; waits at most `answer_wait` after
    the last launch for answers still outstanding (they then count as errors)."""
    n = round(rate * seconds)
    done = Submissions(time.perf_counter() + 0.05)
    launched: list[asyncio.Task[None]] = []
    for k in range(n):
        due = done.started + k / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        launched.append(asyncio.create_task(submitter.submit(k, done, sent_at=due)))
    _, pending = await asyncio.wait(launched, timeout=answer_wait)
    for task in pending:
        task.cancel()
    if pending:
        done.errors["NO_ANSWER_IN_TIME"] += len(pending)
    return done


class Watch:
    """A core subscription to `$KV.disputes.>`: every write of a record, as it is
    published. It sees the first time each record had a decision and a `notified` entry.
    (A compare-and-set the server refuses is published too, but its writer retries at once
    with the same content, so the times are off by a round trip at most.)"""

    def __init__(self, nc: Client, bucket: str) -> None:
        self._nc = nc
        self._prefix = f"$KV.{bucket}."
        self.routed: dict[str, float] = {}
        self.told: dict[str, float] = {}
        self.unreadable = 0

    @classmethod
    async def start(cls, url: str, bucket: str = "disputes") -> Watch:
        nc = await nats.connect(url, name="bench-watch")
        watch = cls(nc, bucket)
        await nc.subscribe(f"{watch._prefix}>", cb=watch._on_write)
        await nc.flush()
        return watch

    async def _on_write(self, msg: Msg) -> None:
        now = time.perf_counter()
        seen = progress(msg.data, msg.subject.removeprefix(self._prefix))
        if seen is None:
            self.unreadable += bool(msg.data)
            return
        if seen.routed:
            self.routed.setdefault(seen.dispute_id, now)
        if seen.told:
            self.told.setdefault(seen.dispute_id, now)

    async def wait_told(self, ids: Iterable[str], deadline: float) -> bool:
        """Until every dispute in `ids` was told, or `deadline` (perf_counter) passes."""
        missing = set(ids)
        while missing:
            missing = {i for i in missing if i not in self.told}
            if not missing:
                break
            if time.perf_counter() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True

    async def close(self) -> None:
        await self._nc.close()


@dataclass(frozen=True)
class Milestones:
    """Seconds from the first submission until the last dispute reached each milestone,
    and how many reached it; None when not all did within the run."""

    accepted_s: float | None
    routed_s: float | None
    told_s: float | None
    routed: int
    told: int

    @classmethod
    def of(cls, done: Submissions, n: int, watch: Watch) -> Milestones:
        ids = list(done.ids.values())
        routed = [watch.routed[i] for i in ids if i in watch.routed]
        told = [watch.told[i] for i in ids if i in watch.told]

        def span(times: list[float]) -> float | None:
            return max(times) - done.started if len(times) == n else None

        accepted = done.last_answer - done.started if done.accepted == n else None
        return cls(accepted, span(routed), span(told), len(routed), len(told))


def latencies_ms(done: Submissions, reached: dict[str, float]) -> tuple[list[float], int]:
    """From each submission's send to its dispute's milestone, in ms; and how many never
    reached it (a submission without an answer counts as never)."""
    finished = []
    for k, sent in done.sent_at.items():
        dispute_id = done.ids.get(k)
        if dispute_id is not None and dispute_id in reached:
            finished.append((reached[dispute_id] - sent) * 1000)
    return finished, len(done.sent_at) - len(finished)
