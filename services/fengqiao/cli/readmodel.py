"""`fengqiao readmodel rebuild | status`, run by the operator against the live bus and the
configured database (`FENGQIAO_DATABASE_URL`, or SQLite under `FENGQIAO_DATA_DIR`)."""

from __future__ import annotations

import argparse

from fengqiao.platform.bus import connect
from fengqiao.platform.settings import Settings
from fengqiao.readmodel import open_engine
from fengqiao.readmodel.rebuild import rebuild, status


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    readmodel = sub.add_parser(
        "readmodel", help="the SQL read model of listings and figures (rebuild, status)"
    )
    commands = readmodel.add_subparsers(dest="readmodel_command", required=True)
    commands.add_parser("rebuild", help="drop the rows and build them again from the bus")
    commands.add_parser("status", help="how far the read model has applied each bucket")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    bus = await connect(settings.nats_url, "cli", settings.nats)
    engine = await open_engine(settings)
    try:
        if args.readmodel_command == "rebuild":
            for done in await rebuild(bus, engine):
                rate = done.rows / max(done.seconds, 1e-9)
                print(
                    f"{done.stream}\t{done.rows} 行（rows）\t{done.seconds:.1f} 秒\t"
                    f"{rate:.0f} 行/秒"
                )
            print("查询库已重建（read model rebuilt）")
            return 0
        built, streams = await status(bus, engine)
        print(f"版本（version）: {built}")
        for s in streams:
            behind = max(s.last_seq - s.applied_seq, 0)
            print(
                f"{s.stream}\t已应用 {s.applied_seq} / {s.last_seq}（落后 {behind}）\t{s.rows} 行"
            )
        return 0
    finally:
        engine.dispose()
        await bus.close()
