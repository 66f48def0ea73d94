"""One trace_id links a submission's log line to its deliveries', across the three
services as processes of their own: the caller's W3C traceparent travels in the NATS
headers from intake to triage, notification and delivery."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from functools import partial

import grpc
import pytest

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.e2e.processes import ServiceProcess, three_services
from tests.support import eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
async def services(nats_server: EmbeddedNats) -> AsyncIterator[dict[str, ServiceProcess]]:
    async with three_services(nats_server.url) as running:
        yield running


def _lines(service: ServiceProcess, event: str, dispute_id: str) -> list[dict[str, object]]:
    return [line for line in service.events(event) if line.get("dispute_id") == dispute_id]


async def test_the_callers_trace_reaches_triage_notification_and_delivery(
    services: dict[str, ServiceProcess],
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services['intake'].port}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        traced = (
            await intake.SubmitDispute(sample("01"), metadata=(("traceparent", TRACEPARENT),))
        ).dispute_id
        untraced = (await intake.SubmitDispute(sample("07"))).dispute_id
        for dispute_id in (traced, untraced):
            get = partial(intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
            await eventually(get, lambda r: any(e.kind == "notified" for e in r.timeline))
    notification = services["notification"]

    async def delivered() -> set[str]:
        return {str(line.get("dispute_id")) for line in notification.events("notification_sent")}

    await eventually(delivered, lambda ids: {traced, untraced} <= ids)
    for service in services.values():
        assert await service.stop() == 0

    received = _lines(services["intake"], "dispute_received", traced)
    routed = _lines(services["triage"], "dispute_routed", traced)
    recorded = _lines(notification, "notification_recorded", traced)
    sent = _lines(notification, "notification_sent", traced)
    assert received and routed and recorded and sent
    assert {line["trace_id"] for line in received + routed + recorded + sent} == {TRACE_ID}

    # A call without one begins a trace of its own, followed the same way.
    (first,) = _lines(services["intake"], "dispute_received", untraced)
    own = str(first["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", own) and own != TRACE_ID
    later = _lines(services["triage"], "dispute_routed", untraced) + _lines(
        notification, "notification_sent", untraced
    )
    assert later and {line["trace_id"] for line in later} == {own}
