"""The `fengqiao` command: run services, run the demo, submit a dispute, check the policy."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fengqiao.convert import context_from_proto, dispute_from_proto
from fengqiao.demo import run_demo
from fengqiao.platform.logs import configure_logging
from fengqiao.platform.settings import Settings, SettingsError
from fengqiao.policy import CompiledPolicy, PolicyError, load_policy
from fengqiao.policy.cases import load_cases, run_cases, uncovered
from fengqiao.policy.schema import policy_schema
from fengqiao.runtime import serve_until_signalled
from fengqiao.samples import SampleError, read_submission
from fengqiao.v1 import intake_pb2_grpc, triage_pb2

ALL = ("intake", "triage", "notification")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fengqiao", description="矛盾纠纷分级化解：受理、分流、通知（dispute triage）"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ALL:
        sub.add_parser(name, help=f"run the {name} service (one per container)")
    sub.add_parser("up", help="run all three services (and NATS if FENGQIAO_NATS_URL is unset)")
    demo = sub.add_parser("demo", help="start everything, submit the samples, print the decisions")
    demo.add_argument("--samples", type=Path, default=Path("rules/samples"))
    submit = sub.add_parser("submit", help="submit one dispute (JSON file) to a running intake")
    submit.add_argument("file", type=Path)
    submit.add_argument(
        "--target", default="", help="intake host:port (default: FENGQIAO_INTAKE_ADDR)"
    )

    health = sub.add_parser("health", help="exit 0 if the gRPC service at --target is serving")
    health.add_argument("--target", required=True, help="host:port")

    rules = sub.add_parser("rules", help="check or explain the rules file").add_subparsers(
        dest="rules_command", required=True
    )
    check = rules.add_parser("check", help="check a rules file; exit 1 with every problem found")
    check.add_argument("file", type=Path, nargs="?")
    rules.add_parser("schema", help="print the rules file's JSON Schema (rules/schema.json)")
    test = rules.add_parser("test", help="run policy test cases (rules/tests/*.yaml)")
    test.add_argument("file", type=Path, nargs="?", help="rules file (default: the live policy)")
    test.add_argument(
        "cases", type=Path, nargs="*", help="case files (default: rules/tests/*.yaml)"
    )
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    explain = rules.add_parser("explain", help="why a dispute goes where it goes")
    explain.add_argument("file", type=Path, help="rules file")
    explain.add_argument("dispute", type=Path, help="dispute or submission JSON")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command in ALL:
        asyncio.run(_serve(settings, [command]))
        return 0
    if command == "up":
        asyncio.run(_serve(settings, ALL))
        return 0
    if command == "demo":
        return asyncio.run(run_demo(settings, args.samples))
    if command == "health":
        return asyncio.run(_health(args.target))
    if command == "submit":
        return asyncio.run(_submit(args.file, args.target or _client_target(settings.intake_addr)))
    if args.rules_command == "check":
        return _rules_check(args.file or settings.policy_file)
    if args.rules_command == "schema":
        print(json.dumps(policy_schema(), ensure_ascii=False, indent=2))
        return 0
    if args.rules_command == "test":
        policy_file: Path = args.file or settings.policy_file
        return _rules_test(policy_file, args.cases, verbose=args.verbose)
    return _rules_explain(args.file, args.dispute, as_json=args.json)


async def _serve(settings: Settings, names: Sequence[str]) -> None:
    await serve_until_signalled(settings, names)


def _client_target(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]', '') else host}:{port}"


async def _submit(path: Path, target: str) -> int:
    request = read_submission(path)
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            response = await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(request)
        except grpc.aio.AioRpcError as exc:
            print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(json_format.MessageToJson(response, preserving_proto_field_name=True, ensure_ascii=False))
    return 0


async def _health(target: str) -> int:
    """For container health checks: the standard gRPC health service, overall status."""
    async with grpc.aio.insecure_channel(target) as channel:
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


def _rules_check(path: Path) -> int:
    policy = load_policy(path)
    print(
        f"{path}: 检查通过（ok）— {len(policy.rules)} 条分流规则，"
        f"{len(policy.escalation)} 条升级规则，版本 {policy.label}，"
        f"policy_version {policy.version[:12]}"
    )
    return 0


def _rules_test(path: Path, case_files: Sequence[Path], *, verbose: bool) -> int:
    """Run the cases; the last line is `N passed, M failed`. Exit 1 on any failure."""
    compiled = CompiledPolicy(load_policy(path))
    tests_dir = path.parent / "tests"
    files = list(case_files) or sorted(tests_dir.glob("*.yaml"))
    if not files:
        print(f"没有找到用例（no case files in {tests_dir}）", file=sys.stderr)
        return 1
    results = run_cases(compiled, load_cases(files, path.parent / "samples"))
    for result in results:
        case = result.case
        if result.passed and not verbose:
            continue
        mark = "✔" if result.passed else "✘"
        print(f"{mark} {case.source}:{case.line} {case.name} → {result.rule_id}")
        for failure in result.failures:
            print(f"    {failure}")
    missing = uncovered(compiled, results)
    if missing:
        print(f"提示：以下规则没有用例覆盖（no case ends on）：{', '.join(missing)}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _rules_explain(rules: Path, dispute_file: Path, *, as_json: bool) -> int:
    compiled = CompiledPolicy(load_policy(rules))
    request = read_submission(dispute_file)
    dispute = dispute_from_proto(request.dispute)
    context = context_from_proto(triage_pb2.PolicyContext())
    decision, trace = compiled.explain(dispute, context, datetime.now(UTC))
    engine = compiled.decide(dispute, context, decision.decided_at)
    if as_json:
        out = {
            "decision": {
                **asdict(decision),
                "deadline": decision.deadline.isoformat(),
                "decided_at": decision.decided_at.isoformat(),
            },
            "trace": [asdict(t) for t in trace],
            "engine_rule_id": engine.rule_id,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for t in trace:
        print(f"{'✔ 命中' if t.matched else '✘ 未中'}  {t.rule_id}：{t.title}")
        for c in t.conditions:
            mark = "✔" if c.satisfied else "✘"
            print(f"      {mark} {c.expected}（实际：{c.actual}）")
    print()
    print(
        f"结论：{decision.route_label}，规则 {decision.rule_id}，"
        f"时限 {decision.deadline.isoformat()}，{decision.priority.value}"
    )
    print(f"理由：{decision.reason}")
    if engine.rule_id != decision.rule_id:
        print(f"警告：规则引擎给出不同结果 {engine.rule_id}（engine disagrees）", file=sys.stderr)
        return 1
    return 0
