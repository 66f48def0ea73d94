"""The replay timing: `fengqiao rules replay DRAFT --json`, the whole command as policy
staff run it, over N stored disputes (default 100,000: a year of a city). Target: < 60 s.

The history is made the way triage makes it: each dispute routed by the shipped policy
with a context (similar and same-party counts), three in ten escalated after a failed
mediation, one in ten twice, each step kept with its context and version. It is written
straight into a SQLite read model (as intake's follower would) beside a nats-server that
holds the published version; the draft raises one threshold.

    .venv/bin/python -m tests.bench.replay [--count 100000]
    .venv/bin/python -m tests.bench.run --only replay      (the same, from `make bench`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from fengqiao.domain.lifecycle import assign
from fengqiao.domain.model import (
    Dispute,
    DisputeRecord,
    Location,
    Party,
    PolicyContext,
    Status,
    TimelineEntry,
)
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.platform.bus import connect
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import record_to_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.policies import PUBLISH, Activation, PolicyStore, PublishedVersion
from fengqiao.policy import CompiledPolicy, load_policy
from fengqiao.readmodel.database import create, database_url, migrate
from fengqiao.readmodel.rows import dispute_row
from fengqiao.readmodel.schema import disputes
from tests.conftest import POLICY, ROOT

COUNT = 100_000
TARGET_SECONDS = 60.0
THRESHOLD = "      similar_recent: {at_least: 2}"
CATEGORIES = ("neighbour_noise", "property_management", "labour_wages", "marriage_family",
              "contract_debt", "personal_injury", "petition", "land_acquisition")  # fmt: skip
STREETS = ("东街街道", "西街街道", "南街街道", "北街街道", "新墩镇", "梁家墩镇")
SUMMARIES = (
    "邻里之间因日常琐事发生争执。",
    "对方扬言要动刀，家属很害怕。",
    "拖欠货款多次催要未果。",
)
START = datetime(2025, 12, 1, tzinfo=UTC)
_BATCH = 5000


def history(count: int, seed: int = 7) -> Iterator[DisputeRecord]:
    """`count` records decided by the shipped policy, escalations included."""
    rng = random.Random(seed)
    compiled = CompiledPolicy(load_policy(POLICY))
    for n in range(count):
        at = START + timedelta(seconds=rng.randrange(365 * 86_400))
        street = rng.choice(STREETS)
        dispute = Dispute(
            id=f"FQ-{at:%Y%m%d}-{n:010x}",
            category=rng.choice(CATEGORIES),
            summary=rng.choice(SUMMARIES),
            parties=(Party(f"张{n}", "applicant", f"138{n:08d}"), Party(f"李{n}", "respondent")),
            location=Location("甘州区", street, f"{street}一社区", f"网格{rng.randrange(9)}"),
            amount_fen=rng.choice((0, 500_000, 5_000_000, 9_000_000, 20_000_000)),
            channel="hotline",
            court_mediation_consent=rng.random() < 0.3,
            received_at=at,
        )
        similar, party = rng.choice((0, 0, 1, 2, 3)), rng.choice((0, 0, 1))
        record = DisputeRecord(
            dispute, Status.RECEIVED, f"r-{n}",
            timeline=(TimelineEntry(at=at, kind="received", summary="受理", event_id=f"s-{n}"),),
        )  # fmt: skip
        context = PolicyContext(similar_recent=similar, party_recent=party)
        decision = compiled.decide(dispute, context, at)
        record = assign(record, decision, trigger=SUBMITTED, event_id=f"routed-{n}-1",
                        response_due=at + timedelta(days=1), context=context)  # fmt: skip
        for _ in range(rng.choice((0,) * 7 + (1, 1, 2))):
            at += timedelta(days=rng.randrange(1, 20))
            context = PolicyContext(record.level, record.step - 1, similar, party)
            decision = compiled.decide(dispute, context, at, "mediation_failed")
            record = assign(record, decision, trigger="mediation_failed",
                            event_id=f"escalated-{n}-{record.step}",
                            response_due=at + timedelta(days=1), context=context)  # fmt: skip
        yield record


def fill(data_dir: Path, records: Iterator[DisputeRecord]) -> int:
    """Write the records as the read model's rows; how many."""
    engine = create(database_url("", data_dir))
    migrate(engine)
    written = 0
    try:
        batch = []
        for record in records:
            written += 1
            row, _ = dispute_row(record.id, written, encode(record_to_proto(record)))
            batch.append(row)
            if len(batch) == _BATCH:
                with engine.begin() as conn:
                    conn.execute(insert(disputes), batch)
                batch = []
        if batch:
            with engine.begin() as conn:
                conn.execute(insert(disputes), batch)
    finally:
        engine.dispose()
    return written


async def _publish(url: str) -> None:
    bus = await connect(url, "bench")
    try:
        policy, now = load_policy(POLICY), datetime.now(UTC)
        store = PolicyStore(bus.policies)
        await store.publish(PublishedVersion(policy.version, policy.label, POLICY.read_bytes(),
                                             "bench", now, "bench"))  # fmt: skip
        await store.activate(Activation(policy.version, PUBLISH, "bench", now, "bench"))
    finally:
        await bus.close()


async def measure(count: int, tmp: Path) -> dict[str, Any]:
    """Fill, then time the command once; its figures."""
    made = time.monotonic()
    written = fill(tmp / "data", history(count))
    made = time.monotonic() - made
    draft = tmp / "draft.yaml"
    draft.write_text(
        POLICY.read_text(encoding="utf-8").replace(THRESHOLD, THRESHOLD.replace("2", "3"))
    )
    nats = await EmbeddedNats.start(tmp / "nats")
    try:
        await _publish(nats.url)
        out = tmp / "replay.json"
        env = {**os.environ, "FENGQIAO_NATS_URL": nats.url, "FENGQIAO_DATA_DIR": str(tmp / "data")}
        started = time.monotonic()
        with out.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fengqiao", "rules", "replay", str(draft), "--json",
                cwd=ROOT, env=env, stdout=sink, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await process.communicate()
        seconds = time.monotonic() - started
    finally:
        await nats.stop()
    if process.returncode != 0:
        raise RuntimeError(f"replay failed: {err.decode()[-2000:]}")
    document = json.loads(out.read_bytes())
    return {
        "disputes": document["disputes"],
        "steps": document["steps"],
        "changed": len(document["changed"]),
        "not_reproduced": document["not_reproduced"],
        "seconds": round(seconds, 1),
        "disputes_per_second": round(document["disputes"] / seconds),
        "target_seconds": TARGET_SECONDS,
        "history_made_seconds": round(made, 1),
        "written": written,
    }


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fq-bench-replay-") as tmp:
        figures = asyncio.run(measure(count, Path(tmp)))
    met = "met" if figures["seconds"] < TARGET_SECONDS else "NOT met"
    print(
        f"rules replay over {figures['disputes']:,} disputes ({figures['steps']:,} steps): "
        f"{figures['seconds']:.1f} s, {figures['disputes_per_second']:,}/s "
        f"(target < {TARGET_SECONDS:.0f} s: {met}); {figures['changed']:,} would change, "
        f"{figures['not_reproduced']} steps not reproduced",
        flush=True,
    )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", "-n", type=int, default=COUNT)
    figures = run(parser.parse_args(argv).count)
    return 0 if figures["seconds"] < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
