"""The `fengqiao` command: run services, run the demo, submit a dispute, check the policy."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import uvloop
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fengqiao.cli import console as console_cli
from fengqiao.cli import ops as ops_cli
from fengqiao.cli import policy as policy_cli
from fengqiao.cli import readmodel as readmodel_cli
from fengqiao.cli import replay as replay_cli
from fengqiao.cli import rules as rules_cli
from fengqiao.cli import vocab as vocab_cli
from fengqiao.cli.demo import run_demo
from fengqiao.cli.report import day_argument
from fengqiao.domain.errors import Misconfigured, NatsConnectError, SampleError, SettingsError
from fengqiao.domain.model import PolicyContext, Route
from fengqiao.domain.vocabulary import SUBMITTED, TRIGGERS
from fengqiao.platform.embedded_nats import running_url
from fengqiao.platform.grpc_tls import GrpcTls
from fengqiao.platform.logs import configure_logging
from fengqiao.platform.settings import Settings
from fengqiao.policy import PolicyError
from fengqiao.publishing import directory_for
from fengqiao.retention import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS
from fengqiao.samples import read_submission
from fengqiao.stack import serve_until_signalled
from fengqiao.v1 import intake_pb2_grpc

ALL = ("intake", "triage", "notification")
OPERATOR = ("notifications", "retention", "bus", "readmodel")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fengqiao", description="矛盾纠纷分级化解：受理、分流、通知（dispute triage）"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ALL:
        sub.add_parser(name, help=f"run the {name} service (one per container)")
    sub.add_parser(
        "up",
        help="run all three services (and NATS if FENGQIAO_NATS_URL is unset), and the "
        "console if it has a users file or single sign-on",
    )
    console = sub.add_parser("console", help="run the console (board and policy playground)")
    console.add_argument(
        "action", nargs="?", choices=("serve", "hash-password"), default="serve",
        help="serve (default), or hash-password: a bcrypt hash for the users file",
    )  # fmt: skip
    demo = sub.add_parser("demo", help="start everything, submit the samples, print the decisions")
    demo.add_argument("--samples", type=Path, default=Path("rules/samples"))
    demo.add_argument(
        "--once", action="store_true",
        help="print what happened and stop (default: the console serves on until Ctrl+C)",
    )  # fmt: skip
    submit = sub.add_parser("submit", help="submit one dispute (JSON file) to a running intake")
    submit.add_argument("file", type=Path)
    submit.add_argument(
        "--target", default="", help="intake host:port (default: FENGQIAO_INTAKE_ADDR)"
    )

    notifications = sub.add_parser(
        "notifications", help="dead letters: list, and send again (needs FENGQIAO_NATS_URL)"
    ).add_subparsers(dest="notifications_command", required=True)
    notifications.add_parser("dead-letters", help="notifications whose delivery gave up")
    redrive = notifications.add_parser("redrive", help="send a dead letter again")
    redrive.add_argument("notification_id")
    retention = sub.add_parser(
        "retention",
        help="anonymise disputes closed more than --days ago (needs FENGQIAO_NATS_URL)",
    )
    retention.add_argument(
        "--days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help=f"retention period in days (default {DEFAULT_RETENTION_DAYS}, "
        f"at least {MIN_RETENTION_DAYS})",
    )
    retention.add_argument("--dry-run", action="store_true", help="list them, change nothing")
    report = sub.add_parser(
        "report", help="the figures of a street or community over some days, in words"
    )
    report.add_argument("--street", default="", help="e.g. 东街街道 (default: everywhere)")
    report.add_argument("--community", default="", help="e.g. 南关社区")
    report.add_argument("--day", type=day_argument, help="one day, YYYY-MM-DD (每日一小结)")
    report.add_argument("--from", dest="first", type=day_argument, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="last", type=day_argument, help="last day, YYYY-MM-DD")
    report.add_argument(
        "--target", default="", help="intake host:port (default: FENGQIAO_INTAKE_ADDR)"
    )
    ops_cli.add_bus_parser(sub)
    vocab_cli.add_parser(sub)
    readmodel_cli.add_parser(sub)
    health = sub.add_parser("health", help="exit 0 if the gRPC service at --target is serving")
    health.add_argument("--target", required=True, help="host:port")

    rules = sub.add_parser("rules", help="check or explain the rules file").add_subparsers(
        dest="rules_command", required=True
    )
    check = rules.add_parser("check", help="check a rules file; exit 1 with every problem found")
    check.add_argument("file", type=Path, nargs="?")
    check.add_argument(
        "--directory",
        type=Path,
        help="the directory to check notices against "
        "(default: directory.yaml beside the file, else FENGQIAO_DIRECTORY_FILE)",
    )
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    rules.add_parser("schema", help="print the rules file's JSON Schema (rules/schema.json)")
    diff = rules.add_parser(
        "diff", help="what an edited rules file would change, over every case and sample"
    )
    diff.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="[LIVE] EDITED: the rules file in force (default: the configured policy), "
        "and the edited one",
    )
    test = rules.add_parser("test", help="run policy test cases (rules/tests/*.yaml)")
    test.add_argument("file", type=Path, nargs="?", help="rules file (default: the live policy)")
    test.add_argument(
        "cases", type=Path, nargs="*", help="case files (default: rules/tests/*.yaml)"
    )
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    _add_explain_parser(rules)
    _add_lifecycle_parsers(rules)
    return parser


def _add_explain_parser(rules: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = rules.add_parser("explain", help="why a dispute goes where it goes")
    explain.add_argument("file", type=Path, nargs="?", help="rules file")
    explain.add_argument("dispute", type=Path, nargs="?", help="dispute or submission JSON")
    explain.add_argument(
        "--dispute",
        dest="stored",
        metavar="FQ-…",
        help="a stored dispute: decide its step again under the version that decided it",
    )
    explain.add_argument(
        "--step", type=int, default=0, help="with --dispute: which step (default: the current)"
    )
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument(
        "--event",
        default=SUBMITTED,
        choices=list(TRIGGERS),
        help="what happened (default: a new dispute)",
    )
    explain.add_argument(
        "--level",
        default="new",
        choices=["new", *(r.value for r in Route)],
        help="where the dispute is now",
    )
    # The same context facts as TriageService.Evaluate's PolicyContext.
    explain.add_argument("--times-escalated", type=int, default=0)
    explain.add_argument(
        "--similar-recent", type=int, default=0, help="similar disputes of the grid in the window"
    )
    explain.add_argument(
        "--party-recent", type=int, default=0, help="earlier disputes of the same party"
    )


def _add_lifecycle_parsers(rules: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """publish, versions, rollback, replay: versions on the bus, drafts on history."""
    publish = rules.add_parser(
        "publish", help="check and test a rules file, then put it in force on every replica"
    )
    publish.add_argument("file", type=Path)
    publish.add_argument("--comment", required=True, help="why: shown in `rules versions`")
    publish.add_argument("--by", default="", help="who publishes (default: the login name)")
    publish.add_argument("--directory", type=Path, help="as for `rules check`")
    rules.add_parser("versions", help="every published version, the active one marked")
    rollback = rules.add_parser("rollback", help="put a published version back in force")
    rollback.add_argument("version", help="its SHA-256, or the first 8 or more characters")
    rollback.add_argument("--comment", default="", help="why")
    rollback.add_argument("--by", default="", help="who (default: the login name)")
    replay = rules.add_parser(
        "replay", help="what a draft would have done to the stored disputes (writes nothing)"
    )
    replay.add_argument("file", type=Path, metavar="DRAFT")
    replay.add_argument("--from", dest="first", type=day_argument, help="YYYY-MM-DD")
    replay.add_argument("--to", dest="last", type=day_argument, help="YYYY-MM-DD")
    replay.add_argument("--street", default="", help="e.g. 东街街道")
    replay.add_argument("--json", action="store_true", help="machine-readable output")


T = TypeVar("T")


def _run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop: the same asyncio, with its loop, transports and timers in C.
    In a closed-loop `make bench` the standard loop's own work (callbacks, polling,
    socket writes, a timer per NATS request) was a quarter of each service's samples,
    and uvloop cut the CPU of a dispute by about 12 %."""
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "vocab":  # reads nothing from the environment
        return vocab_cli.run(args.name)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"配置错误（configuration error）: {exc}", file=sys.stderr)
        return 2
    level = settings.log_level
    if args.command == "demo" and "FENGQIAO_LOG_LEVEL" not in os.environ:
        level = "warning"  # the demo's table is the output; service logs only if asked
    configure_logging(settings.log_format, level)
    try:
        return _dispatch(args, settings)
    except PolicyError as exc:
        print(exc.format(), file=sys.stderr)
        return 1
    except SampleError as exc:
        print(f"无法读取纠纷文件（cannot read dispute file）: {exc}", file=sys.stderr)
        return 1
    except NatsConnectError as exc:
        print(f"无法连接消息总线（NATS）: {exc}", file=sys.stderr)
        return 1
    except Misconfigured as exc:  # the database's, the embedded nats-server's: the message says
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `fengqiao rules diff … | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command in ALL:
        _run(_serve(settings, [command]))
        return 0
    if command == "console":
        if args.action == "hash-password":
            return console_cli.hash_password()
        _run(_serve(settings, ["console"]))
        return 0
    if command == "up":
        _run(_serve(settings, [*ALL, *console_cli.up_with_console(settings)]))
        return 0
    if command == "demo":
        return _run(run_demo(settings, args.samples, once=args.once))
    if command in OPERATOR:
        return _operator(args, settings)
    if command == "health":
        return _run(_health(args.target, settings.grpc_tls))
    if command == "report":
        target = args.target or _client_target(settings.intake_addr)
        return _run(ops_cli.report(args, settings, target))
    if command == "submit":
        target = args.target or _client_target(settings.intake_addr)
        return _run(_submit(args.file, target, settings.grpc_tls))
    return _rules(args, settings)


def _operator(args: argparse.Namespace, settings: Settings) -> int:
    """The operator's commands, on the bus: FENGQIAO_NATS_URL, or beside `fengqiao up`
    the server it started (recorded in the data directory)."""
    command: str = args.command
    if not settings.nats_url:
        settings = replace(settings, nats_url=running_url(settings.data_dir))
    if not settings.nats_url:
        print(
            "请设置 FENGQIAO_NATS_URL，或在运行 fengqiao up 的目录（同一 FENGQIAO_DATA_DIR）"
            "下执行（set FENGQIAO_NATS_URL to the NATS server, or run beside "
            "`fengqiao up` with its FENGQIAO_DATA_DIR）",
            file=sys.stderr,
        )
        return 2
    if command in ("notifications", "readmodel"):
        run = ops_cli.notifications if command == "notifications" else readmodel_cli.run
        return _run(run(settings, args))
    if command == "bus" and args.bus_command == "show":
        return _run(ops_cli.bus_show(settings, args.where, args.key))
    if command == "bus":
        return _run(ops_cli.bus_setup(settings, args.replicas))
    if command == "retention":
        if args.days < MIN_RETENTION_DAYS:
            print(
                f"保存期限不能少于 {MIN_RETENTION_DAYS} 天：结案后的回访仍需当事人信息"
                f"（--days must be at least {MIN_RETENTION_DAYS}）",
                file=sys.stderr,
            )
            return 2
        return _run(ops_cli.retention(settings, args.days, dry_run=args.dry_run))
    raise AssertionError(f"not an operator command: {command}")


def _rules(args: argparse.Namespace, settings: Settings) -> int:
    if args.rules_command == "check":
        path = args.file or settings.policy_file
        directory = directory_for(path, args.directory, settings)
        return rules_cli.check(path, directory, strict=args.strict)
    if args.rules_command == "schema":
        return rules_cli.schema()
    if args.rules_command == "diff":
        if len(args.files) > 2:
            print("rules diff 只接受两个文件（give at most LIVE and EDITED）", file=sys.stderr)
            return 2
        live, edited = args.files if len(args.files) == 2 else (settings.policy_file, *args.files)
        return rules_cli.diff(live, edited)
    if args.rules_command == "test":
        return rules_cli.test(args.file or settings.policy_file, args.cases, verbose=args.verbose)
    if args.rules_command in ("publish", "versions", "rollback", "replay") or args.stored:
        return _run(_lifecycle(args, settings))
    if args.file is None or args.dispute is None:
        print("rules explain 需要规则文件和纠纷文件，或 --dispute 编号"
              "（give FILE DISPUTE, or --dispute FQ-…）", file=sys.stderr)  # fmt: skip
        return 2
    context = PolicyContext(
        current_level=None if args.level == "new" else Route(args.level),
        times_escalated=max(args.times_escalated, 0),
        similar_recent=max(args.similar_recent, 0),
        party_recent=max(args.party_recent, 0),
    )
    return rules_cli.explain(args.file, args.dispute, context, args.event, as_json=args.json)


async def _lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.rules_command
    by = (getattr(args, "by", "") or getpass.getuser()).strip()
    if command == "publish":
        directory = directory_for(args.file, args.directory, settings)
        return await policy_cli.publish(settings, args.file, directory, args.comment, by)
    if command == "versions":
        return await policy_cli.versions(settings)
    if command == "rollback":
        return await policy_cli.rollback(settings, args.version, args.comment, by)
    if command == "replay":
        if args.first and args.last and args.first > args.last:
            print("--from 应早于 --to（--from must not be after --to）", file=sys.stderr)
            return 2
        return await replay_cli.run(
            settings, args.file, args.first, args.last, args.street.strip(), as_json=args.json
        )
    return await policy_cli.explain_stored(
        args.stored.strip(),
        args.step,
        _client_target(settings.intake_addr),
        _client_target(settings.triage_addr),
        settings.grpc_tls,
        as_json=args.json,
    )


async def _serve(settings: Settings, names: Sequence[str]) -> None:
    await serve_until_signalled(settings, names)


def _client_target(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '') else host}:{port}"


async def _submit(path: Path, target: str, tls: GrpcTls) -> int:
    request = read_submission(path)
    async with tls.channel(target) as channel:
        try:
            response = await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(request)
        except grpc.aio.AioRpcError as exc:
            print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(json_format.MessageToJson(response, preserving_proto_field_name=True, ensure_ascii=False))
    return 0


async def _health(target: str, tls: GrpcTls) -> int:
    """For container health checks: the standard gRPC health service, overall status."""
    async with tls.channel(target) as channel:
        # types-grpcio-health-checking declares HealthStub without its methods.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.aio.AioRpcError as exc:
            print(f"{target}: {exc.code().name}", file=sys.stderr)
            return 1
    serving = response.status == health_pb2.HealthCheckResponse.SERVING
    print(f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}")
    return 0 if serving else 1
