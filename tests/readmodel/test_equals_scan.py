"""Property: after any mix of submissions, events (escalations among them) and
anonymisation, the read model lists exactly what a fresh scan of the bucket holds."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengqiao.domain.model import DisputeRecord
from fengqiao.domain.stats import compute_stats
from fengqiao.platform.bus import KV_DISPUTES, Bus, kv_values
from fengqiao.platform.convert import record_to_proto, stats_to_proto
from fengqiao.platform.store import record_from_bytes
from fengqiao.retention import apply_retention
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.intake.test_record_event import event

PREFIXES = ("01", "03", "07", "12", "13")
KINDS = ("accepted", "mediation_started", "mediation_failed", "agreement_reached", "resolved",
         "withdrawn", "info_incomplete", "risk_raised", "escalation_requested", "note")  # fmt: skip
Op = tuple[str, int, int]
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(0, len(PREFIXES) - 1), st.just(0)),
        st.tuples(st.just("event"), st.integers(0, 20), st.integers(0, len(KINDS) - 1)),
        st.tuples(st.just("anonymise"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


async def list_all(intake: intake_pb2_grpc.IntakeServiceAsyncStub) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    token = ""
    while True:
        page = await intake.ListDisputes(
            intake_pb2.ListDisputesRequest(page_size=7, page_token=token)
        )
        for d in page.disputes:
            assert d.dispute.id not in found  # no dispute twice across pages
            found[d.dispute.id] = d.SerializeToString(deterministic=True)
        token = page.next_page_token
        if not token:
            return found


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
async def test_the_read_model_equals_a_fresh_scan(stack: Stack, bus: Bus, ops: list[Op]) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        ids: list[str] = []
        for op, a, b in ops:
            if op == "submit":
                request = replace_request_id(sample(PREFIXES[a]), len(ids))
                ids.append((await intake.SubmitDispute(request)).dispute_id)
            elif op == "event" and ids:
                # A risk must name its kind; every other field is valid for every kind.
                flags = ["violence"] if KINDS[b] == "risk_raised" else []
                recorded = event(ids[a % len(ids)], KINDS[b], reason="原因", risk_flags=flags)
                try:
                    await intake.RecordEvent(recorded)
                except grpc.aio.AioRpcError as exc:  # not allowed in its status: fine
                    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
            elif op == "anonymise":
                await apply_retention(bus, datetime.now(UTC) + timedelta(days=400),
                                      timedelta(days=365))  # fmt: skip
        # Triage and notification keep changing records after each call: compare once they
        # have settled (the listing itself never waits for them, only for the bucket).
        for _ in range(100):
            listed = await list_all(intake)
            stats = await intake.GetStats(intake_pb2.GetStatsRequest())
            scanned = [record_from_bytes(v) for v in await kv_values(bus.js, KV_DISPUTES)]
            if listed == _by_id(scanned):
                break
            await asyncio.sleep(0.1)
    assert listed == _by_id(scanned)
    # The same figures, but `overdue`, which depends on the moment of each call.
    expected = stats_to_proto(replace(compute_stats(scanned), overdue=stats.overdue))
    assert stats == expected


def _by_id(records: list[DisputeRecord]) -> dict[str, bytes]:
    return {r.id: record_to_proto(r).SerializeToString(deterministic=True) for r in records}


def replace_request_id(
    request: intake_pb2.SubmitDisputeRequest, n: int
) -> intake_pb2.SubmitDisputeRequest:
    copy = intake_pb2.SubmitDisputeRequest()
    copy.CopyFrom(request)
    copy.request_id = f"{request.request_id}-{n}-{datetime.now(UTC).timestamp()}"
    return copy
