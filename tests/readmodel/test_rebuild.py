"""`fengqiao readmodel rebuild | status` against a running intake: the rows are built
again from the bus, and the intake that follows the same database starts over by itself."""

from __future__ import annotations

import grpc
from sqlalchemy import text

from fengqiao.platform.bus import Bus
from fengqiao.readmodel.database import create, current_version, migrate
from fengqiao.readmodel.rebuild import rebuild
from fengqiao.runtime import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import samples
from tests.readmodel.records import records, stored
from tests.test_cli import run_cli


async def test_rebuild_while_intake_serves(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        ids = {(await intake.SubmitDispute(r)).dispute_id for r in samples()[:8]}
        before = await intake.GetStats(intake_pb2.GetStatsRequest())
        code, out, err = await run_cli(stack, "readmodel", "rebuild", data=True)
        assert code == 0, err
        assert "KV_disputes\t8 行" in out and "查询库已重建" in out
        code, out, err = await run_cli(stack, "readmodel", "status", data=True)
        assert code == 0, err
        assert current_version() in out and "KV_disputes\t已应用" in out
        # The intake starts over from what the database holds, and loses nothing.
        more = {(await intake.SubmitDispute(r)).dispute_id for r in samples()[8:10]}
        listed = await intake.ListDisputes(intake_pb2.ListDisputesRequest(page_size=100))
        assert {d.dispute.id for d in listed.disputes} == ids | more
        after = await intake.GetStats(intake_pb2.GetStatsRequest())
        assert after.received == before.received + 2


async def test_rebuild_needs_a_bus(stack: Stack) -> None:
    code, _, err = await run_cli(stack, "readmodel", "rebuild", nats=False)
    assert code == 2 and "FENGQIAO_NATS_URL" in err


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
