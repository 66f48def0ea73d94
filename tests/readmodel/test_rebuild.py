"""`fengqiao readmodel rebuild | status` against a running intake: the rows are built
again from the bus, and the intake that follows the same database starts over by itself."""

from __future__ import annotations

import asyncio
import os
import sys

import grpc
from sqlalchemy import text

from fengqiao.platform.bus import Bus
from fengqiao.readmodel.database import create, current_version, migrate
from fengqiao.readmodel.rebuild import rebuild
from fengqiao.runtime import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import ROOT, samples
from tests.readmodel.records import records, stored


async def fengqiao(stack: Stack, *argv: str) -> tuple[int | None, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env |= {
        "FENGQIAO_NATS_URL": stack.settings.nats_url,
        "FENGQIAO_DATA_DIR": str(stack.settings.data_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_rebuild_while_intake_serves(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        ids = {(await intake.SubmitDispute(r)).dispute_id for r in samples()[:8]}
        before = await intake.GetStats(intake_pb2.GetStatsRequest())
        code, out, err = await fengqiao(stack, "readmodel", "rebuild")
        assert code == 0, err
        assert "KV_disputes\t8 行" in out and "查询库已重建" in out
        code, out, err = await fengqiao(stack, "readmodel", "status")
        assert code == 0, err
        assert current_version() in out and "KV_disputes\t已应用" in out
        # The intake starts over from what the database holds, and loses nothing.
        more = {(await intake.SubmitDispute(r)).dispute_id for r in samples()[8:10]}
        listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest(page_size=100))
        assert {d.dispute.id for d in listed.disputes} == ids | more
        after = await intake.GetStats(intake_pb2.GetStatsRequest())
        assert after.received == before.received + 2


async def test_rebuild_needs_a_bus(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "readmodel", "rebuild", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2 and "FENGQIAO_NATS_URL" in err.decode()


async def test_a_rebuilt_postgresql_table_has_its_planner_statistics(
    bus: Bus, postgres_url: str
) -> None:
    """Without statistics PostgreSQL scanned a freshly rebuilt 1,000,000-row table for
    every figure until autovacuum came round: a rebuild analyses what it wrote."""
    rs = records(12, 25)
    for r in rs:
        await bus.disputes.put(r.id, stored(r))
    engine = create(postgres_url)
    try:
        migrate(engine)
        await rebuild(bus, engine)
        with engine.connect() as connection:
            counted = connection.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'disputes'")
            ).scalar()
    finally:
        engine.dispose()
    assert counted == len(rs)  # -1 until the table is first analysed
