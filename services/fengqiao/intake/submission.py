"""Identity of a submission: idempotency keys, content fingerprints, and the one
`submitted` fact a stored dispute is announced with (by SubmitDispute, or again by the
sweeper)."""

from __future__ import annotations

import hashlib

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import Dispute, DisputeRecord
from fengqiao.platform.convert import dispute_to_proto, timestamp
from fengqiao.v1 import events_pb2


def request_key(request_id: str) -> str:
    """KV key for a client request id (which may hold any characters)."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()


def fingerprint(dispute: Dispute) -> str:
    """Hash of what the client sent, so a reused request_id with other content is caught."""
    proto = dispute_to_proto(dispute)
    proto.ClearField("id")
    proto.ClearField("received_at")
    return hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()


def submitted_event_id(dispute_id: str) -> str:
    """The event id (and so the Nats-Msg-Id) of a dispute's `submitted` fact."""
    return f"{EventKind.SUBMITTED}-{dispute_id}"


def submitted_event(record: DisputeRecord) -> events_pb2.DisputeEvent:
    """The fact that announces a stored dispute to triage; the same bytes however often
    it is built, so a repeat is one message to the stream's deduplication."""
    return events_pb2.DisputeEvent(
        event_id=submitted_event_id(record.id),
        dispute_id=record.id,
        kind=EventKind.SUBMITTED,
        at=timestamp(record.dispute.received_at),
        dispute=dispute_to_proto(record.dispute),
    )
