"""A new rules file goes into force without a restart (on SIGHUP, or when the file changes
under FENGQIAO_POLICY_RELOAD_SECONDS); a file with problems changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from structlog.testing import capture_logs

from fengqiao.convert import dispute_from_proto
from fengqiao.domain import PolicyContext
from fengqiao.domain.calendar import calendar_known_until
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.policy.deadlines import CHINA
from fengqiao.triage.policy_watch import PolicyWatch
from fengqiao.triage.runner import PolicyRunner
from fengqiao.v1 import triage_pb2, triage_pb2_grpc
from tests.conftest import POLICY, sample
from tests.e2e.processes import ServiceProcess
from tests.support import eventually

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
THREE_DAYS = "    deadline: {days: 3}\n    reason: “{category}”属邻里小事"
FIVE_DAYS = "    deadline: {days: 5}\n    reason: “{category}”属邻里小事"


def edited(text: str) -> str:
    assert THREE_DAYS in text
    return text.replace(THREE_DAYS, FIVE_DAYS)


def policy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "schema.json").write_bytes((POLICY.parent / "schema.json").read_bytes())
    return path


async def deadline_days(runner: PolicyRunner) -> int:
    decision = await runner.decide(dispute_from_proto(sample("01").dispute), PolicyContext(), NOW)
    return (decision.deadline - NOW).days


async def test_a_good_file_takes_over_and_a_bad_one_changes_nothing(tmp_path: Path) -> None:
    path = policy_copy(tmp_path)
    runner = await PolicyRunner.load(path)
    try:
        first = runner.policy.version
        assert await deadline_days(runner) == 3
        path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")
        with capture_logs() as logs:
            assert await runner.reload(path)
        assert await deadline_days(runner) == 5
        assert runner.policy.version == hashlib.sha256(path.read_bytes()).hexdigest() != first
        (reloaded,) = [e for e in logs if e["event"] == "policy_reloaded"]
        assert reloaded["previous_version"] == first

        path.write_text("version: 坏\nroutes: {}\n", encoding="utf-8")
        with capture_logs() as logs:
            assert not await runner.reload(path)
        assert await deadline_days(runner) == 5
        (failed,) = [e for e in logs if e["event"] == "policy_reload_failed"]
        assert failed["problems"] and all(str(path) in p for p in failed["problems"])
    finally:
        runner.close()


async def test_a_changed_file_is_put_in_force_and_a_bad_one_tried_once(tmp_path: Path) -> None:
    path = policy_copy(tmp_path)
    runner = await PolicyRunner.load(path)
    watch = PolicyWatch(runner, path)
    try:
        await watch.check()
        assert await deadline_days(runner) == 3  # unchanged file: nothing to do
        path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")
        await watch.check()
        changed = runner.policy.version
        assert changed == hashlib.sha256(path.read_bytes()).hexdigest()
        bad = ["rules: [", "version: 坏\nroutes: {}\n"]
        with capture_logs() as logs:
            for text in bad:
                path.write_text(text, encoding="utf-8")
                for _ in range(3):
                    await watch.check()
        assert refused_versions(logs) == [hashlib.sha256(t.encode()).hexdigest() for t in bad]
        assert runner.policy.version == changed
    finally:
        runner.close()


async def test_the_watch_checks_on_its_own_every_interval(tmp_path: Path) -> None:
    path = policy_copy(tmp_path)
    runner = await PolicyRunner.load(path)
    watching = asyncio.create_task(PolicyWatch(runner, path).run(0.05))
    try:
        path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")
        changed = hashlib.sha256(path.read_bytes()).hexdigest()

        async def version() -> str:
            return runner.policy.version

        assert await eventually(version, lambda v: v == changed) == changed
        assert await deadline_days(runner) == 5
    finally:
        watching.cancel()
        runner.close()


def refused_versions(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [e["refused_version"] for e in logs if e["event"] == "policy_reload_failed"]


async def test_sighup_reloads_a_running_triage_process(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    path = policy_copy(tmp_path)
    triage = await ServiceProcess.start("triage", nats_server.url, path)
    try:
        path.write_text(edited(path.read_text(encoding="utf-8")), encoding="utf-8")
        changed = hashlib.sha256(path.read_bytes()).hexdigest()
        triage.process.send_signal(signal.SIGHUP)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{triage.port}") as channel:
            stub = triage_pb2_grpc.TriageServiceStub(channel)
            policy = await eventually(
                lambda: stub.GetPolicy(triage_pb2.GetPolicyRequest()),
                lambda p: p.version == changed,
            )
        assert policy.version == changed
    finally:
        assert await triage.stop() == 0
    assert [e["policy_version"] for e in triage.events("policy_reloaded")] == [changed]


async def test_a_deadline_counted_without_the_official_calendar_is_logged() -> None:
    runner = await PolicyRunner.load(POLICY)
    try:
        labour = dispute_from_proto(sample("10").dispute)  # labour-room: 5 working days
        year_end = datetime(calendar_known_until(), 12, 30, 10, tzinfo=CHINA)
        decision = await runner.decide(labour, PolicyContext(), year_end)
        with capture_logs() as logs:
            runner.warn_if_estimated(decision, labour)
            runner.warn_if_estimated(await runner.decide(labour, PolicyContext(), NOW), labour)
    finally:
        runner.close()
    (warning,) = logs
    assert (warning["event"], warning["log_level"], warning["rule_id"]) == (
        "deadline_estimated", "warning", "labour-room",
    )  # fmt: skip
    assert warning["calendar_known_until"] == calendar_known_until()
