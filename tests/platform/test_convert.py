"""Protobuf ⇄ domain values: what the read model relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from fengqiao.domain.lifecycle import assign
from fengqiao.domain.model import DisputeRecord, PolicyContext, Status
from fengqiao.domain.stats import facts_of
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import (
    dispute_from_proto,
    facts_from_proto,
    record_from_proto,
    record_to_proto,
)
from fengqiao.platform.store import record_from_bytes
from fengqiao.policy import CompiledPolicy, load_policy
from tests.conftest import POLICY, sample
from tests.readmodel.records import records

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def stored(dispute_id: str) -> bytes:
    """A routed dispute as triage stores it."""
    dispute = replace(dispute_from_proto(sample("01").dispute), id=dispute_id, received_at=NOW)
    decision = CompiledPolicy(load_policy(POLICY)).decide(dispute, PolicyContext(), NOW)
    record = DisputeRecord(dispute=dispute, status=Status.RECEIVED, request_id=dispute_id)
    routed = assign(record, decision, trigger="submitted", event_id="a", response_due=NOW)
    return encode(record_to_proto(routed))


def test_records_read_back_share_the_strings_they_repeat() -> None:
    first = record_from_bytes(stored("FQ-20261120-0000000001"))
    second = record_from_bytes(stored("FQ-20261120-0000000002"))
    assert first.decision is not None and second.decision is not None
    assert first.dispute.id != second.dispute.id
    # Equal, and one object: the read model keeps one copy per value, not per record.
    for a, b in (
        (first.decision.policy_version, second.decision.policy_version),
        (first.decision.rule_title, second.decision.rule_title),
        (first.dispute.location.street, second.dispute.location.street),
        (first.timeline[-1].kind, second.timeline[-1].kind),
    ):
        assert a == b and a is b


def test_the_figures_facts_read_off_a_message_are_those_of_the_decoded_record() -> None:
    """The read model counts a row's figures from the stored message directly; they must
    be what `compute_stats` counts from the decoded record."""
    for record in records(41, 500):
        message = record_to_proto(record)
        assert facts_from_proto(message) == facts_of(record_from_proto(message))
