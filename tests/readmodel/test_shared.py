"""Intake replicas sharing one PostgreSQL read model: each batch is applied once, and a
dispute submitted through one replica is listed at once by the other."""

from __future__ import annotations

from dataclasses import replace

import grpc
from structlog.testing import capture_logs

from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import samples, settings_for


async def test_two_intakes_share_one_postgresql_read_model(
    nats_server: EmbeddedNats, postgres_url: str
) -> None:
    settings = replace(settings_for(nats_server.url), database_url=postgres_url)
    with capture_logs() as logs:
        async with (
            running(settings, ("intake",)) as first,
            running(settings, ("intake", "triage")) as second,
            grpc.aio.insecure_channel(f"127.0.0.1:{first.port('intake')}") as a,
            grpc.aio.insecure_channel(f"127.0.0.1:{second.port('intake')}") as b,
        ):
            one, other = (
                intake_pb2_grpc.IntakeServiceStub(a),
                intake_pb2_grpc.IntakeServiceStub(b),
            )
            submitted = []
            for i, request in enumerate(samples()):
                via = one if i % 2 else other
                submitted.append((await via.SubmitDispute(request)).dispute_id)
                # Read your writes through the other replica.
                listed = await (other if i % 2 else one).ListDisputes(
                    intake_pb2.ListDisputesRequest(page_size=500)
                )
                assert submitted[-1] in {d.dispute.id for d in listed.disputes}
            stats_a = await one.GetStats(intake_pb2.GetStatsRequest())
            stats_b = await other.GetStats(intake_pb2.GetStatsRequest())
    assert stats_a == stats_b and stats_a.received == len(submitted)
    applied = [e for e in logs if e["event"] == "projection_applied"]
    # Both followed the stream; a batch the other had applied already wrote nothing.
    assert any(e["written"] == 0 for e in applied)
    starts = [e for e in logs if e["event"] == "projection_started"]
    assert len(starts) == 2
