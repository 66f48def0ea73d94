"""Varied dispute records for read-model tests and the scale benchmark: every status,
route and ladder step, accepted late or in time, closed on time or not, followed up."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format

from fengqiao.domain.model import (
    Decision,
    Dispute,
    DisputeRecord,
    Location,
    Party,
    Priority,
    Route,
    Status,
    TimelineEntry,
)
from fengqiao.platform.convert import record_to_proto

STREETS = ("东街街道", "西街街道", "南街街道", "北街街道", "新墩镇", "梁家墩镇", "上秦镇", "碱滩镇")
COMMUNITIES = ("一社区", "二社区", "三社区", "四社区", "五社区")
CATEGORIES = ("neighbour_noise", "property_management", "labour_wages", "contract_debt",
              "family", "land_boundary", "personal_injury")  # fmt: skip


def stored(record: DisputeRecord) -> bytes:
    """The record as earlier versions stored it (protobuf JSON), which every version reads."""
    return json_format.MessageToJson(
        record_to_proto(record), preserving_proto_field_name=True, indent=None
    ).encode()


def make_record(rng: random.Random, n: int, start: datetime, span_days: int) -> DisputeRecord:
    received = start + timedelta(seconds=rng.randrange(span_days * 86_400), microseconds=n % 997)
    street = rng.choice(STREETS)
    dispute = Dispute(
        id=f"FQ-{received:%Y%m%d}-{n:010x}",
        category=rng.choice(CATEGORIES),
        summary=f"第{n}号纠纷的经过",
        parties=(Party(name=f"张{n}", role="applicant", phone=f"138{n:08d}"[:11]),),
        location=Location(
            "甘州区", street, rng.choice(COMMUNITIES), f"网格{rng.randrange(9)}", f"{street}{n}号"
        ),
        amount_fen=rng.randrange(10_000_000),
        channel="hotline",
        received_at=received,
    )
    timeline = [TimelineEntry(at=received, kind="received", summary="受理", event_id=f"s-{n}")]
    record = DisputeRecord(dispute=dispute, status=Status.RECEIVED, request_id=f"r-{n}",
                           timeline=tuple(timeline))  # fmt: skip
    if rng.random() < 0.1:
        return record
    step = rng.choice((1, 1, 1, 2, 3))
    route = rng.choice(tuple(Route))
    decided = received + timedelta(minutes=rng.randrange(1, 600))
    decision = Decision(
        rule_id=f"rule-{rng.randrange(12)}", rule_title="规则", route=route,
        route_label=route.value, handler="h", handler_label="处理人", priority=Priority.NORMAL,
        deadline=decided + timedelta(days=rng.choice((1, 7, 15, 45))), reason="理由",
        policy_version="v1", notify=(), decided_at=decided,
    )  # fmt: skip
    timeline.append(TimelineEntry(at=decided, kind="routed", summary="分派", route=route))
    timeline += [
        TimelineEntry(at=decided, kind="escalated", summary="升级", route=route)
        for _ in range(step - 1)
    ]
    status = rng.choice(tuple(Status)[1:])
    accepted_at = closed_at = None
    if status is not Status.ROUTED and rng.random() < 0.8:
        accepted_at = decided + timedelta(hours=rng.randrange(1, 72))
        timeline.append(TimelineEntry(at=accepted_at, kind="accepted", summary="签收"))
    timeline += [
        TimelineEntry(at=decided, kind="mediation_failed", summary="调解不成")
        for _ in range(rng.choice((0, 0, 0, 1, 2)))
    ]
    if status.closed:
        closed_at = decided + timedelta(days=rng.randrange(0, 60), hours=rng.randrange(24))
    return replace(
        record,
        status=status,
        decision=decision,
        timeline=tuple(timeline),
        step=step,
        accepted_at=accepted_at,
        closed_at=closed_at,
        accepted_late=rng.random() < 0.2,
        satisfaction=rng.choice((0, 0, 3, 4, 5)) if status.closed else 0,
    )


def records(seed: int, count: int, start: datetime | None = None) -> list[DisputeRecord]:
    rng = random.Random(seed)
    begin = start or datetime(2026, 1, 1, tzinfo=UTC)
    return [make_record(rng, n, begin, 330) for n in range(count)]
