"""SIGKILL of intake in the middle of building its read model: after a restart the rows are
exactly the bucket's latest values, none lost and none twice, and the indexes it was
building without are made."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import replace
from pathlib import Path

import grpc
from sqlalchemy import Engine, func, inspect, select

from fengqiao.domain.model import Status
from fengqiao.platform.bus import KV_DISPUTES, Bus, kv_values
from fengqiao.platform.convert import status_to_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.store import record_from_bytes
from fengqiao.readmodel.apply import DISPUTES, applied_seq
from fengqiao.readmodel.database import create, database_url
from fengqiao.readmodel.schema import disputes
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.e2e.processes import ServiceProcess
from tests.readmodel.records import records, stored

COUNT = 6000


async def publish_all(bus: Bus, values: list[tuple[str, bytes]]) -> None:
    for i in range(0, len(values), 500):
        await asyncio.gather(
            *(bus.js.publish(f"$KV.{KV_DISPUTES}.{k}", v) for k, v in values[i : i + 500])
        )


async def test_a_killed_intake_loses_and_doubles_nothing(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    rs = records(21, COUNT)
    await publish_all(bus, [(r.id, stored(r)) for r in rs])
    extra = {"FENGQIAO_DATA_DIR": str(tmp_path)}
    engine = create(database_url("", tmp_path))
    try:
        intake = await ServiceProcess.start("intake", nats_server.url, extra=extra)
        # Withdrawals keep arriving while it builds, so it follows revisions too.
        withdrawn = [(r.id, stored(replace(r, status=Status.WITHDRAWN))) for r in rs[::7]]
        writing = asyncio.create_task(publish_all(bus, withdrawn))
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(applied_seq, engine, DISPUTES.stream) > 0:
            assert time.monotonic() < deadline, "the read model never started applying"
            await asyncio.sleep(0.01)
        intake.process.send_signal(signal.SIGKILL)
        await intake.process.wait()
        await writing
        last = (await bus.js.stream_info(DISPUTES.stream)).state.last_seq
        assert await asyncio.to_thread(applied_seq, engine, DISPUTES.stream) < last
        # Killed while loading without its indexes: the restart goes on building.
        assert indexes(engine) < {i.name for i in disputes.indexes}
        intake = await ServiceProcess.start("intake", nats_server.url, extra=extra)
        try:
            listed = await list_all(intake.port)
        finally:
            await intake.stop()
        scanned = [record_from_bytes(v) for v in await kv_values(bus.js, KV_DISPUTES)]
        assert sorted(listed) == sorted(f"{r.id}:{status_to_proto(r.status)}" for r in scanned)
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(disputes)).scalar()
        assert rows == len(scanned) == COUNT
        assert indexes(engine) == {i.name for i in disputes.indexes}
    finally:
        engine.dispose()


def indexes(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {i["name"] or "" for i in inspect(connection).get_indexes("disputes")}


async def list_all(port: int) -> list[str]:
    """`id:status` of every dispute intake lists, once it has caught up."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        listed: list[str] = []
        token = ""
        while True:
            try:
                page = await stub.ListDisputes(
                    intake_pb2.ListDisputesRequest(page_size=500, page_token=token), timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                # Still catching up after the restart: it says so, and the caller retries.
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                continue
            listed += [f"{d.dispute.id}:{d.status}" for d in page.disputes]
            token = page.next_page_token
            if not token:
                return listed
