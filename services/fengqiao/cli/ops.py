"""`fengqiao notifications | bus | retention | report`: what operators and supervisors run
against a live bus or intake."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import grpc

from fengqiao.cli.report import Period, fetch_report, format_overdue, format_report, unknown_place
from fengqiao.domain.errors import NotFound
from fengqiao.notification.dead_letters import list_dead_letters, redrive
from fengqiao.notification.directory import EMPTY, Directory, load_directory
from fengqiao.platform.bus import connect, declared_names
from fengqiao.platform.inspect import show
from fengqiao.platform.settings import Settings
from fengqiao.policy import PolicyError
from fengqiao.retention import apply_retention


def add_bus_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fengqiao bus setup [--replicas N]` and `fengqiao bus show WHERE KEY`."""
    bus = sub.add_parser("bus", help="declare the streams and buckets, or read what they hold")
    bus_commands = bus.add_subparsers(dest="bus_command", required=True)
    setup = bus_commands.add_parser(
        "setup", help="create or update every stream and KV bucket fengqiao uses (as the operator)"
    )
    setup.add_argument(
        "--replicas",
        type=int,
        choices=(1, 3, 5),
        help="copies of every stream and bucket on a JetStream cluster (default: leave as is; "
        "new ones get 1)",
    )
    show = bus_commands.add_parser(
        "show", help="print a KV value or a stream message as JSON (they are stored as binary)"
    )
    show.add_argument(
        "where", help="a KV bucket (disputes, notifications …) or a stream (DISPUTES)"
    )
    show.add_argument("key", help="the key in the bucket, or the message's sequence in the stream")


async def notifications(settings: Settings, args: argparse.Namespace) -> int:
    bus = await connect(settings.nats_url, "cli", settings.nats)
    try:
        if args.notifications_command == "redrive":
            try:
                await redrive(bus.js, args.notification_id)
            except NotFound as exc:
                print(exc, file=sys.stderr)
                return 1
            print(f"已重新投递（redriven）: {args.notification_id}")
            return 0
        letters = await list_dead_letters(bus.js)
        for d in letters:
            print(f"{d.notification_id}\t{d.recipient_id}\t{d.attempts} 次\t{d.error}")
        print(f"共 {len(letters)} 条死信（dead letters）")
        return 0
    finally:
        await bus.close()


async def bus_setup(settings: Settings, replicas: int | None) -> int:
    bus = await connect(settings.nats_url, "cli", settings.nats, replicas=replicas)
    try:
        for name in declared_names():
            info = await bus.js.stream_info(name)
            copies = info.config.num_replicas or 1
            print(f"{name}\t{info.state.messages} 条消息（messages）\t{copies} 副本（replicas）")
    finally:
        await bus.close()
    print("消息总线已就绪（streams and buckets declared）")
    return 0


async def bus_show(settings: Settings, where: str, key: str) -> int:
    bus = await connect(settings.nats_url, "cli", settings.nats)
    try:
        print(await show(bus.js, where, key))
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await bus.close()
    return 0


async def retention(settings: Settings, days: int, *, dry_run: bool) -> int:
    bus = await connect(settings.nats_url, "cli", settings.nats)
    try:
        report = await apply_retention(
            bus, datetime.now(UTC), timedelta(days=days), dry_run=dry_run
        )
    finally:
        await bus.close()
    for dispute_id in report.anonymised:
        print(dispute_id)
    verb = "将脱敏（would anonymise）" if dry_run else "已脱敏（anonymised）"
    print(f"共 {report.examined} 件纠纷，结案满 {days} 天{verb} {len(report.anonymised)} 件")
    if report.failed:
        print(
            f"{len(report.failed)} 件未能脱敏，见日志 dispute_anonymise_failed，下次运行将重试"
            f"（{len(report.failed)} failed: {', '.join(report.failed)}）",
            file=sys.stderr,
        )
        return 1
    return 0


async def report(args: argparse.Namespace, settings: Settings, target: str) -> int:
    period = Period(args.day, args.day) if args.day else Period(args.first, args.last)
    if period.first and period.last and period.first > period.last:
        print("--from 应早于 --to（--from must not be after --to）", file=sys.stderr)
        return 2
    street, community = args.street.strip(), args.community.strip()
    if problem := unknown_place(street, community, _directory(settings)):
        print(problem, file=sys.stderr)
        return 2
    request = period.request(street, community)
    try:
        stats, overdue = await fetch_report(target, settings.grpc_tls, request)
    except grpc.aio.AioRpcError as exc:
        print(f"{target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    place = "/".join(p for p in (args.street.strip(), args.community.strip()) if p)
    print(format_report(stats, place, period))
    print(format_overdue(overdue, datetime.now(UTC)))
    return 0


def _directory(settings: Settings) -> Directory:
    """The directory, to know the places; an unreadable one checks nothing (the report
    is still worth having)."""
    try:
        return load_directory(settings.directory_file)
    except PolicyError:
        return EMPTY
