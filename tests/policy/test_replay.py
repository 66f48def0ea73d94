"""`fengqiao rules replay` over a stored history made by the real services: 1,200
disputes routed by triage, 150 of them escalated after a failed mediation. A draft that
raises one threshold (similar disputes of the grid: at least 2 → at least 3) is reported
to change exactly the disputes an independent computation finds, and nothing else; the
replay writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from fengqiao.platform.bus import Bus, declared_names
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import POLICY, ROOT, sample, settings_for
from tests.intake.test_record_event import event
from tests.support import eventually

DISPUTES = 1200
ESCALATED = 150
THRESHOLD = "      similar_recent: {at_least: 2}"
# Where each category goes when no repeat rule takes it: the shipped policy's own table.
AFTER = {
    "neighbour_noise": ("neighbour-and-property", "local"),
    "property_management": ("neighbour-and-property", "local"),
    "labour_wages": ("labour-room", "local"),
    "marriage_family": ("family-room", "local"),
}


def submission(n: int, rng: random.Random) -> intake_pb2.SubmitDisputeRequest:
    """A dispute no risk, petition or party rule takes: the repeat rule or its category
    decides it. Its applicant's phone is its own, so no party count reaches 3."""
    request = sample("01")
    request.request_id = f"history-{n}"
    d = request.dispute
    d.category = rng.choice(sorted(AFTER))
    d.summary = "邻里之间因日常琐事发生争执，请社区协调。"
    d.location.grid = f"第{rng.randrange(60)}网格"
    d.location.street = rng.choice(["东街街道", "西街街道"])
    d.parties[0].phone = f"138{n:08d}"
    return request


async def replay(env: dict[str, str], draft: Path, *more: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "rules", "replay", str(draft), *more, cwd=ROOT,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def stream_sizes(bus: Bus) -> dict[str, int]:
    return {n: (await bus.js.stream_info(n)).state.messages for n in declared_names()}


async def test_replay_reports_exactly_what_one_threshold_changes(
    nats_server: EmbeddedNats, bus: Bus, tmp_path: Path
) -> None:
    rng = random.Random(12)
    data_dir = tmp_path / "data"
    async with (
        running(settings_for(nats_server.url, data_dir=data_dir), ("intake", "triage")) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        ids: list[str] = []
        for start in range(0, DISPUTES, 40):
            answers = await asyncio.gather(
                *(intake.SubmitDispute(submission(n, rng)) for n in range(start, start + 40))
            )
            ids.extend(a.dispute_id for a in answers)

        calls = asyncio.Semaphore(40)  # the server's concurrency limit is not the subject

        async def read(dispute_id: str, step: int) -> dispute_pb2.DisputeRecord:
            request = intake_pb2.GetDisputeRequest(dispute_id=dispute_id)
            async with calls:
                return await eventually(
                    partial(intake.GetDispute, request), lambda r: r.step >= step, within=120
                )

        async def record_event(dispute_id: str, kind: str) -> None:
            async with calls:
                await intake.RecordEvent(event(dispute_id, kind, reason="未谈拢"))

        async with asyncio.timeout(120):
            await asyncio.gather(*(read(d, 1) for d in ids))
            escalated = rng.sample(ids, ESCALATED)
            for kind in ("accepted", "mediation_started", "mediation_failed"):
                await asyncio.gather(*(record_event(d, kind) for d in escalated))
            await asyncio.gather(*(read(d, 2) for d in escalated))
            records = await asyncio.gather(*(read(d, 1) for d in ids))
            # The read model holds them all once a read has waited for it.
            stats = await intake.GetStats(intake_pb2.GetStatsRequest())
    assert stats.received == DISPUTES and stats.escalated == ESCALATED

    # Independent of the policy code: with no risk, petition or party rule taking these,
    # the threshold changes exactly the routings that saw 2 similar disputes.
    routed = {r.dispute.id: next(e for e in r.timeline if e.kind == "routed") for r in records}
    category = {r.dispute.id: r.dispute.category for r in records}
    expected = {d for d, e in routed.items() if e.context.similar_recent == 2}
    assert all(routed[d].rule_id == "repeat-neighbour" for d in expected)
    assert 50 < len(expected) < DISPUTES / 2  # the history does exercise the threshold

    draft = tmp_path / "draft.yaml"
    text = POLICY.read_text(encoding="utf-8")
    assert text.count(THRESHOLD) == 1
    draft.write_text(text.replace(THRESHOLD, THRESHOLD.replace("2", "3")), encoding="utf-8")
    env = {"FENGQIAO_NATS_URL": nats_server.url, "FENGQIAO_DATA_DIR": str(data_dir)}
    database = data_dir / "readmodel.sqlite3"
    before = (hashlib.sha256(database.read_bytes()).hexdigest(), await stream_sizes(bus))
    document: dict[str, Any] = json.loads(await replay(env, draft, "--json"))
    words = await replay(env, draft, "--street", "东街街道", "--from", "2020-01-01")
    after = (hashlib.sha256(database.read_bytes()).hexdigest(), await stream_sizes(bus))

    assert after == before  # nothing written
    assert (document["disputes"], document["steps"]) == (DISPUTES, DISPUTES + ESCALATED)
    assert document["not_reproduced"] == 0 and document["unknown_versions"] == {}
    changed = {c["dispute_id"]: c["steps"] for c in document["changed"]}
    assert set(changed) == expected
    for dispute_id, steps in changed.items():
        (step,) = steps  # the escalations read no count: unchanged
        assert step["step"] == 1 and step["before"]["rule_id"] == "repeat-neighbour"
        assert step["before"]["route"] == "street_office"
        assert (step["after"]["rule_id"], step["after"]["route"]) == AFTER[category[dispute_id]]
    moved = sum(
        row["before"] - row["after"]
        for row in document["counts"]
        if row["kind"] == "routing" and row["route"] == "street_office"
    )
    assert moved == len(expected)
    assert sum(r["before"] for r in document["counts"] if r["kind"] == "escalation") == ESCALATED
    east = {
        d
        for d in expected
        if next(r for r in records if r.dispute.id == d).dispute.location.street == "东街街道"
    }
    assert f"{len(east)} 件（{len(east)} 步）结果改变" in words
    assert sorted(
        line.split()[1] for line in words.splitlines() if line.startswith("✎ FQ-")
    ) == sorted(east)
