"""Ceilings measured in the same run: what one gRPC call and one JetStream publish cost on
this machine right now, so fengqiao's figures can be read as fractions of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import nats
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js.api import StorageType, StreamConfig

from tests.bench.stats import Latencies

CALLERS = 32
ECHO_CALLS = 4_000
PUBLISHES_ONE_BY_ONE = 3_000
PUBLISHES_IN_FLIGHT = 20_000
IN_FLIGHT = 256
PAYLOAD = b"x" * 512
CALL_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Rate:
    per_second: float
    latencies: Latencies


async def concurrently(
    call: Callable[[int], Awaitable[Any]], n: int, workers: int
) -> tuple[float, list[float]]:
    """`n` calls from `workers` callers, each waiting for its answer before the next:
    calls per second and each call's latency in ms."""
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


async def grpc_echo(target: str, n: int = ECHO_CALLS) -> Rate:
    """The standard health `Check` on a running service: gRPC with no work behind it."""
    async with grpc.aio.insecure_channel(target) as channel:
        # types-grpcio-health-checking declares HealthStub without its methods.
        health: Any = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        for _ in range(200):  # a warm channel, as the services' callers have
            await health.Check(request, timeout=CALL_TIMEOUT_SECONDS)
        rate, latencies = await concurrently(
            lambda _: health.Check(request, timeout=CALL_TIMEOUT_SECONDS), n, CALLERS
        )
    return Rate(rate, Latencies.of(latencies))


async def js_publish(url: str) -> tuple[Rate, Rate]:
    """`js.publish` of 512 bytes with a Nats-Msg-Id, awaited one by one, then with
    IN_FLIGHT publishes awaiting their acks at once."""
    nc = await nats.connect(url, name="bench-ceiling")
    try:
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name="CEILING",
                subjects=["ceiling.>"],
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )
        one: list[float] = []
        started = time.perf_counter()
        for k in range(PUBLISHES_ONE_BY_ONE):
            t = time.perf_counter()
            await js.publish("ceiling.one", PAYLOAD, headers={"Nats-Msg-Id": f"one-{k}"})
            one.append((time.perf_counter() - t) * 1000)
        sequential = PUBLISHES_ONE_BY_ONE / (time.perf_counter() - started)

        async def publish(k: int) -> None:
            await js.publish("ceiling.many", PAYLOAD, headers={"Nats-Msg-Id": f"many-{k}"})

        many, latencies = await concurrently(publish, PUBLISHES_IN_FLIGHT, IN_FLIGHT)
    finally:
        await nc.close()
    return Rate(sequential, Latencies.of(one)), Rate(many, Latencies.of(latencies))
