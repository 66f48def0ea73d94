"""Triage follows the policy version the bus names active: the file it starts with is only
the first version, a published one is put in force atomically, one with problems is
refused and the one in force stays, and any past version can be read back."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs

from fengqiao.domain import PolicyContext
from fengqiao.domain.calendar import calendar_known_until
from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.policies import PolicyStore
from fengqiao.policy import policy_version
from fengqiao.policy.deadlines import CHINA
from fengqiao.stack import Stack, running
from fengqiao.triage.policy_follow import PolicyFollower, start_runner
from fengqiao.triage.runner import PolicyRunner
from fengqiao.v1 import triage_pb2, triage_pb2_grpc
from tests.conftest import POLICY, sample, settings_for
from tests.support import eventually
from tests.triage.policies import put_in_force, relabelled

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


async def test_a_good_version_takes_over_and_a_bad_one_changes_nothing() -> None:
    runner = await PolicyRunner.start(POLICY.read_bytes(), str(POLICY))
    try:
        first = runner.current
        newer = relabelled("修订一").encode()
        with capture_logs() as logs:
            assert await runner.activate(newer, "policies/x", action="publish")
        assert runner.current.version == policy_version(newer) != first.version
        (activated,) = [e for e in logs if e["event"] == "policy_activated"]
        assert activated["previous_version"] == first.version
        # A decision that took the old version finishes on it.
        old = await runner.decide(
            dispute_from_proto(sample("01").dispute), PolicyContext(), NOW, compiled=first
        )
        assert old.policy_version == first.version

        with capture_logs() as logs:
            assert not await runner.activate(b"version: x\nroutes: {}\n", "policies/bad")
        assert runner.current.version == policy_version(newer)
        (failed,) = [e for e in logs if e["event"] == "policy_activation_failed"]
        assert failed["problems"] and all("policies/bad" in p for p in failed["problems"])
        assert await runner.policy_of(first.version) is first.policy
    finally:
        runner.close()


async def test_a_step_keeps_its_own_versions_follow_up_delay(bus: Bus) -> None:
    store = PolicyStore(bus.policies)
    week = await put_in_force(bus, POLICY.read_text(encoding="utf-8"))
    three_days = relabelled("三天回访").replace(
        "follow_up_after: {days: 7}", "follow_up_after: {days: 3}"
    )
    runner = await PolicyRunner.start(three_days.encode(), "policies/new", store.text)
    try:
        assert runner.policy.timing.follow_up_after.amount == 3
        assert (await runner.policy_of(week)).timing.follow_up_after.amount == 7
        assert await runner.policy_of("0" * 64) is runner.policy  # not published: in force
    finally:
        runner.close()


async def test_a_deadline_counted_without_the_official_calendar_is_logged() -> None:
    runner = await PolicyRunner.start(POLICY.read_bytes(), str(POLICY))
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


async def get_policy(stack: Stack, version: str = "") -> triage_pb2.GetPolicyResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('triage')}") as channel:
        stub = triage_pb2_grpc.TriageServiceStub(channel)
        return await stub.GetPolicy(triage_pb2.GetPolicyRequest(version=version))


async def test_the_file_is_the_first_version_only(
    nats_server: EmbeddedNats, bus: Bus, tmp_path: Path
) -> None:
    other = tmp_path / "triage.yaml"
    other.write_text(relabelled("另一个文件"), encoding="utf-8")
    original = policy_version(POLICY.read_bytes())
    async with running(settings_for(nats_server.url), ("triage",)) as first:
        assert (await get_policy(first)).version == original
        with capture_logs() as logs:
            async with running(settings_for(nats_server.url, other), ("triage",)) as second:
                assert (await get_policy(second)).version == original
    (note,) = [e for e in logs if e["event"] == "policy_file_not_active"]
    assert note["file_version"] == policy_version(other.read_bytes())
    store = PolicyStore(bus.policies)
    assert [v.version for v in await store.versions(bus.js)] == [original]
    assert [a.action for a in await store.activations(bus.js)] == ["bootstrap"]


async def test_a_published_version_is_followed_and_every_version_read_back(
    stack: Stack, bus: Bus
) -> None:
    first = await get_policy(stack)
    assert first.active and first.published_by == "triage" and "bootstrap" in first.comment
    newer = await put_in_force(bus, relabelled("修订一"), comment="换个标签")
    now = await eventually(lambda: get_policy(stack), lambda p: p.version == newer)
    assert now.label == "修订一" and now.comment == "换个标签" and now.active

    past = await get_policy(stack, first.version[:10])
    assert past.version == first.version and not past.active
    assert past.text == POLICY.read_text(encoding="utf-8")
    assert past.published_by == "triage" and past.published_at.seconds > 0
    assert past.rule_ids == first.rule_ids

    for named, code in (
        ("abc", grpc.StatusCode.INVALID_ARGUMENT),  # too short to name one
        ("ffffffffff", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await get_policy(stack, named)
        assert info.value.code() == code

    with capture_logs() as logs:
        bad = await put_in_force(bus, "version: 坏\nroutes: {}\n")
        await eventually(lambda: _logged(logs, "policy_activation_failed"), lambda found: found)
    assert (await get_policy(stack)).version == newer
    (failed,) = [e for e in logs if e["event"] == "policy_activation_failed"]
    assert failed["refused_version"] == bad and failed["policy_version"] == newer


async def _logged(logs: list[MutableMapping[str, Any]], event: str) -> bool:
    return any(e["event"] == event for e in logs)


async def test_a_replica_follows_a_version_published_after_the_server_restarted(
    tmp_path: Path,
) -> None:
    nats = await EmbeddedNats.start(tmp_path / "nats")
    bus = await connect(nats.url, "triage")
    runner = await start_runner(PolicyStore(bus.policies), POLICY)
    follower = PolicyFollower(PolicyStore(bus.policies), runner, resync_seconds=0.2)
    following = asyncio.create_task(follower.follow())
    try:
        port = nats.port
        await nats.stop()
        nats = await EmbeddedNats.start(tmp_path / "nats", port=port)
        publisher = await connect(nats.url, "cli")
        try:
            newer = await put_in_force(publisher, relabelled("重启之后"))
        finally:
            await publisher.close()

        async def in_force() -> str:
            return runner.current.version

        assert await eventually(in_force, lambda v: v == newer) == newer
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        runner.close()
        await bus.close()
        await nats.stop()
