"""Operators scrape Prometheus metrics that follow the log events, at any log level."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import grpc
import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from fengqiao.domain.calendar import calendar_known_until
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.logs import configure_logging
from fengqiao.policy import load_policy
from fengqiao.stack import Stack, running
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import POLICY, sample, settings_for
from tests.support import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def quiet_json_logs() -> Iterator[None]:
    configure_logging("json", "error")  # metrics must not depend on what is shown
    try:
        yield
    finally:
        structlog.reset_defaults()


async def scrape(stack: Stack) -> Samples:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{stack.metrics_port}/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.usefixtures("quiet_json_logs")
async def test_a_routed_dispute_shows_in_the_metrics(nats_server: EmbeddedNats) -> None:
    settings = replace(settings_for(nats_server.url), metrics_addr="127.0.0.1:0")
    async with running(settings, ("intake", "triage", "notification")) as stack:
        before = await scrape(stack)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            dispute_id = (await intake.SubmitDispute(sample("01"))).dispute_id
            await eventually(
                lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
                lambda r: any(e.kind == "notified" for e in r.timeline),
            )
        after = await eventually(
            lambda: scrape(stack),
            # Grid worker and community room (log), two parties (SMS without a gateway: log).
            lambda s: value(s, "fengqiao_deliveries_total", channel="log", outcome="sent") >= 4,
        )

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    dispute = sample("01").dispute
    assert grew("fengqiao_disputes_received_total", channel=dispute.channel,
                category=dispute.category) == 1  # fmt: skip
    assert grew("fengqiao_decisions_total", trigger="submitted", route="local",
                rule_id="neighbour-and-property") == 1  # fmt: skip
    submit = "/fengqiao.v1.IntakeService/SubmitDispute"
    assert grew("fengqiao_rpcs_total", rpc=submit, outcome="ok") == 1
    assert grew("fengqiao_rpc_seconds_count", rpc=submit) == 1
    assert grew("fengqiao_deliveries_total", channel="log", outcome="sent") == 4
    assert value(after, "fengqiao_deliveries_total", channel="sms", outcome="sent") == 0
    version = load_policy(POLICY).version
    assert value(after, "fengqiao_policy", policy_version=version, label="2026.12 复核版") == 1
    assert value(after, "fengqiao_calendar_known_until_year") == calendar_known_until()
    assert value(after, "process_resident_memory_bytes") > 0


def test_a_filtered_event_is_counted_but_not_written(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "warning")
    try:
        log = structlog.get_logger()
        counter = ("fengqiao_disputes_received_total", {"channel": "letter", "category": "other"})
        before = REGISTRY.get_sample_value(*counter) or 0.0
        log.info("dispute_received", channel="letter", category="other")
        log.debug("dispute_resubmitted", request_id="r-1")
        log.warning("fetch_failed", error="x")
        assert REGISTRY.get_sample_value(*counter) == before + 1
        lines = capsys.readouterr().err.splitlines()
        assert [json.loads(line)["event"] for line in lines] == ["fetch_failed"]
    finally:
        structlog.reset_defaults()
