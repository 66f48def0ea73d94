"""Nothing accepted is stranded: NATS away is UNAVAILABLE with a RetryInfo, never UNKNOWN,
and a dispute stored without its `submitted` fact is routed without any client retry."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js.errors import NotFoundError
from structlog.testing import capture_logs

from fengqiao.domain.epoch import EPOCH, micros
from fengqiao.domain.model import DisputeRecord, Status, TimelineEntry
from fengqiao.intake.submission import submitted_event_id
from fengqiao.platform.bus import STREAM, SUBMITTED, Bus, connect
from fengqiao.platform.convert import dispute_from_proto, from_timestamp
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.store import DisputeStore
from fengqiao.stack import running
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample, settings_for
from tests.support import eventually

pytestmark = pytest.mark.asyncio

SWEEP_SECONDS = 0.5
T = TypeVar("T")


async def test_a_submit_while_nats_is_down_is_unavailable_with_retry_info_then_the_retry_routes(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url)
    with capture_logs() as logs:
        async with (
            running(settings, ("intake", "triage")) as stack,
            grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch,
        ):
            intake = intake_pb2_grpc.IntakeServiceStub(ch)
            port = nats_server.port
            await nats_server.stop()
            request = sample("01")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await intake.SubmitDispute(request, timeout=30)
            restarted = await EmbeddedNats.start(tmp_path / "nats", port=port)
            try:
                # The same request_id, once the bus is back, is accepted and routed.
                answer = await eventually(lambda: _submit(intake, request), lambda a: a is not None)
                assert answer is not None
                routed = await eventually(
                    lambda: intake.GetDispute(
                        intake_pb2.GetDisputeRequest(dispute_id=answer.dispute_id)
                    ),
                    lambda r: r.status == dispute_pb2.DISPUTE_STATUS_ROUTED,
                )
            finally:
                nats_server.process = restarted.process  # the fixture stops this one
    error = info.value
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert "同一 request_id" in (error.details() or "")
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    (detail,) = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    assert retry.retry_delay.ToMilliseconds() > 0
    assert [e for e in logs if e["event"] == "rpc_crashed"] == []
    assert routed.step == 1


async def _submit(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, request: intake_pb2.SubmitDisputeRequest
) -> intake_pb2.SubmitDisputeResponse | None:
    try:
        return await intake.SubmitDispute(request, timeout=10)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc
        return None


def _stranded(prefix: str, dispute_id: str) -> DisputeRecord:
    """A record as an intake that stored it and died before publishing leaves it."""
    now = datetime.now(UTC)
    dispute = replace(dispute_from_proto(sample(prefix).dispute), id=dispute_id, received_at=now)
    return DisputeRecord(
        dispute=dispute,
        status=Status.RECEIVED,
        request_id=f"crashed-{dispute_id}",
        timeline=(
            TimelineEntry(
                at=now, kind="received", summary="经网上受理",
                event_id=submitted_event_id(dispute_id),
            ),
        ),
    )  # fmt: skip


async def _submitted_messages(bus: Bus, dispute_id: str) -> int:
    try:
        await bus.js.get_last_msg(STREAM, f"{SUBMITTED}.{dispute_id}")
    except NotFoundError:
        return 0
    return 1


async def test_a_record_stored_without_its_submitted_fact_is_routed_once_by_two_sweeping_replicas(
    nats_server: EmbeddedNats,
) -> None:
    """Two intake replicas sweep the same stranded record: it is published again, routed,
    and decided exactly once; a dispute submitted normally is never published again."""
    settings = replace(settings_for(nats_server.url), sweep_seconds=SWEEP_SECONDS)
    other = replace(settings_for(nats_server.url), sweep_seconds=SWEEP_SECONDS)
    bus = await connect(nats_server.url, "crashed-intake")
    stranded_id = "FQ-20261129-0000dead01"
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            async with (
                running(settings, ("intake", "triage")) as stack,
                running(other, ("intake",)),
            ):
                assert await DisputeStore(bus).create(_stranded("02", stranded_id))
                assert await _submitted_messages(bus, stranded_id) == 0
                async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch:
                    intake = intake_pb2_grpc.IntakeServiceStub(ch)
                    normal = (await intake.SubmitDispute(sample("01"))).dispute_id
                    for dispute_id in (stranded_id, normal):
                        record = await eventually(
                            lambda d=dispute_id: intake.GetDispute(  # type: ignore[misc]
                                intake_pb2.GetDisputeRequest(dispute_id=d)
                            ),
                            lambda r: r.status == dispute_pb2.DISPUTE_STATUS_ROUTED,
                        )
                        assert [e.kind for e in record.timeline][:2] == ["received", "routed"]
                    # Sweeps that came after the normal dispute's grace period: it is not
                    # published again, its message being in the stream.
                    received = micros(from_timestamp(record.dispute, "received_at") or EPOCH)
                    await eventually(
                        lambda: _value(_sweeps_after(logs, received)), lambda n: n >= 2
                    )
            stored = await DisputeStore(bus).require(stranded_id)
    finally:
        await bus.close()
    republished = [e for e in logs if e["event"] == "dispute_republished"]
    assert {e["dispute_id"] for e in republished} == {stranded_id}
    assert 1 <= len(republished) <= 2  # each replica at most once
    routed = [e for e in logs if e["event"] == "dispute_routed"]
    assert sorted(e["dispute_id"] for e in routed) == sorted([stranded_id, normal])
    assert [e.kind for e in stored.timeline].count("routed") == 1
    assert stored.status is Status.ROUTED


def _sweeps_after(logs: list[MutableMapping[str, Any]], received_us: int) -> int:
    return sum(1 for e in logs if e["event"] == "sweep_finished" and e["until_us"] >= received_us)


async def _value(value: T) -> T:
    return value
