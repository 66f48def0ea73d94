"""The callers of a chaos run: concurrent clients of SubmitDispute cycling the sample
submissions, each with a request id of its own.

A *patient* caller does what the API contract asks of a client: a call that fails is
sent again with the same `request_id` (to the next intake, if there are several), with a
short backoff, until it is answered or its retry budget is spent. A caller that *gives
up* sends each submission once and moves on whatever the answer."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from fengqiao.v1 import intake_pb2, intake_pb2_grpc

CALL_SECONDS = 10.0
# Answers no retry can change: the request itself is wrong (a harness bug, not a fault).
_FINAL = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS)


@dataclass
class Load:
    """What the callers saw. `accepted` maps a submission number to the dispute id its
    answer named; `errors` counts every failed call by status code."""

    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    accepted: dict[int, str] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # Submissions never answered: the retry budget ran out, or (giving up) the first try failed.
    unanswered: int = 0
    refused: int = 0
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def accept(self, k: int, dispute_id: str, ms: float) -> None:
        self.accepted[k] = dispute_id
        self.latencies_ms.append(ms)
        await self._moved()

    async def drop(self, *, refused: bool) -> None:
        """A submission given up on: refused by intake, or never answered."""
        if refused:
            self.refused += 1
        else:
            self.unanswered += 1
        await self._moved()

    async def _moved(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def reached(self, count: int, seconds: float) -> bool:
        """Whether `count` submissions were done with within `seconds` (False at once
        when the load has ended short of it)."""
        async with self._progress:
            try:
                async with asyncio.timeout(seconds):
                    await self._progress.wait_for(
                        lambda: self.processed >= count or bool(self.ended)
                    )
            except TimeoutError:
                return False
        return self.processed >= count

    async def finish(self) -> None:
        self.ended = time.monotonic()
        await self._moved()

    @property
    def processed(self) -> int:
        """Submissions done with: accepted, or given up on."""
        return len(self.accepted) + self.unanswered + self.refused

    def per_second(self) -> float:
        span = (self.ended or time.monotonic()) - self.started
        return len(self.accepted) / span if span > 0 else 0.0

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def submit_all(
    intakes: Sequence[str],
    requests: Sequence[intake_pb2.SubmitDisputeRequest],
    n: int,
    callers: int,
    prefix: str,
    *,
    rate: float = 0.0,
    give_up: bool = False,
    retry_seconds: float = 240.0,
    load: Load | None = None,
) -> Load:
    """`n` submissions from `callers` concurrent callers, spread over the `intakes`; with
    a `rate`, submission k leaves no earlier than k / rate seconds after the start, so
    that the load lasts long enough for its faults (a closed loop on two cores would be
    over before the first restarted process serves again)."""
    load = load or Load()
    channels = [grpc.aio.insecure_channel(target) for target in intakes]
    stubs = [intake_pb2_grpc.IntakeServiceStub(c) for c in channels]
    numbers = iter(range(n))

    async def one(k: int) -> None:
        request = intake_pb2.SubmitDisputeRequest()
        request.CopyFrom(requests[k % len(requests)])
        request.request_id = f"{prefix}-{k}"
        give_up_at = time.monotonic() + retry_seconds
        attempt = 0
        while True:
            stub = stubs[(k + attempt) % len(stubs)]
            sent = time.perf_counter()
            try:
                answer = await stub.SubmitDispute(request, timeout=CALL_SECONDS)
            except grpc.aio.AioRpcError as exc:
                load.errors[exc.code().name] += 1
                if exc.code() in _FINAL:
                    await load.drop(refused=True)
                    return
                if give_up or time.monotonic() >= give_up_at:
                    await load.drop(refused=False)
                    return
                attempt += 1
                # A retry is due soon: the fault (a restart) lasts seconds.
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            await load.accept(k, answer.dispute_id, (time.perf_counter() - sent) * 1000)
            return

    async def caller() -> None:
        for k in numbers:
            if rate and (early := load.started + k / rate - time.monotonic()) > 0:
                await asyncio.sleep(early)  # pacing, not waiting for a condition
            await one(k)

    try:
        await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        await load.finish()
        for channel in channels:
            await channel.close()
    return load
