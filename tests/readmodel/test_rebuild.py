"""`fengqiao readmodel rebuild | status` against a running intake: the rows are built
again from the bus, and the intake that follows the same database starts over by itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
from sqlalchemy import inspect, select, text

from fengqiao.domain.model import Status
from fengqiao.platform.bus import Bus
from fengqiao.readmodel.database import create, current_version, database_url, migrate
from fengqiao.readmodel.rebuild import rebuild
from fengqiao.readmodel.schema import disputes
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.cli.test_main import run_cli
from tests.conftest import samples
from tests.readmodel.records import records, stored


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


async def test_rows_decoded_in_worker_processes_equal_those_decoded_in_a_thread(
    bus: Bus, tmp_path: Path
) -> None:
    """A large rebuild decodes in worker processes and loads without the secondary
    indexes: the rows, and the indexes made at the end, are the same either way."""
    rs = records(31, 300)
    for r in rs[:200]:
        await bus.disputes.put(r.id, stored(r))
    for r in rs[100:200]:  # later revisions: only the newest of each key is a row
        await bus.disputes.put(r.id, stored(replace(r, status=Status.WITHDRAWN)))
    for r in rs[:20]:
        await bus.disputes.delete(r.id)
    built = {}
    for name, processes_from in (("thread", 1_000_000), ("processes", 0)):
        engine = create(database_url("", tmp_path / name))
        try:
            migrate(engine)
            await rebuild(bus, engine, processes_from=processes_from)
            with engine.connect() as connection:
                rows = connection.execute(select(disputes).order_by(disputes.c.id)).all()
                present = {i["name"] for i in inspect(connection).get_indexes("disputes")}
        finally:
            engine.dispose()
        assert present == {i.name for i in disputes.indexes}
        built[name] = rows
    assert len(built["thread"]) == 180
    assert built["processes"] == built["thread"]
    expected = {r.id: (Status.WITHDRAWN if n >= 100 else r.status).value
                for n, r in enumerate(rs[:200]) if n >= 20}  # fmt: skip
    assert {row.id: row.status for row in built["thread"]} == expected
