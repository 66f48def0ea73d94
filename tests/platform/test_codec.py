"""The wire format: binary protobuf written, binary and earlier versions' JSON read, and a
store written in JSON carries on under the binary format without a migration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from fengqiao.domain.errors import Unreadable
from fengqiao.domain.ids import new_dispute_id
from fengqiao.domain.model import DisputeRecord, Status, TimelineEntry
from fengqiao.intake.submission import fingerprint, request_key
from fengqiao.platform.bus import Bus
from fengqiao.platform.codec import decode, encode, to_json
from fengqiao.platform.convert import (
    dispute_from_proto,
    dispute_to_proto,
    record_to_proto,
    timestamp,
)
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.store import record_from_bytes
from fengqiao.stack import running
from fengqiao.v1 import dispute_pb2, events_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample, settings_for
from tests.support import eventually


def legacy_json(message: Message) -> bytes:
    """What versions before the binary format wrote on the bus and in KV."""
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, ensure_ascii=False, indent=None
    ).encode("utf-8")


def a_record() -> DisputeRecord:
    now = datetime.now(UTC)
    dispute_id = new_dispute_id(now)
    dispute = replace(dispute_from_proto(sample("01").dispute), id=dispute_id, received_at=now)
    entry = TimelineEntry(
        at=now, kind="received", summary="经电话受理", event_id=f"submitted-{dispute_id}"
    )
    return DisputeRecord(
        dispute=dispute, status=Status.RECEIVED, request_id="legacy-1", timeline=(entry,)
    )


def test_binary_is_written_and_both_binary_and_json_read_back_the_same() -> None:
    message = record_to_proto(a_record())
    written = encode(message)
    assert not written.startswith(b"{")
    assert len(written) < len(legacy_json(message))
    from_binary = decode(written, dispute_pb2.DisputeRecord())
    from_json = decode(legacy_json(message), dispute_pb2.DisputeRecord())
    assert from_binary == from_json == message


@pytest.mark.parametrize("data", [b"not a record", b"{not json", b"\xff\xfe\x00", b"{}x"])
def test_bytes_that_are_neither_format_are_refused_in_words(data: bytes) -> None:
    with pytest.raises(Unreadable, match="not a DisputeRecord"):
        decode(data, dispute_pb2.DisputeRecord())


def test_the_readable_view_names_the_fields_in_chinese_text() -> None:
    text = to_json(record_to_proto(a_record()))
    assert '"request_id": "legacy-1"' in text and "经电话受理" in text


async def test_a_store_written_as_json_is_routed_and_updated_in_place(
    nats_server: EmbeddedNats, bus: Bus
) -> None:
    """A deployment upgrades without a migration: a JSON record and its pending JSON
    `submitted` message, as the previous version left them, are routed, told and
    updated; the record's new revisions are binary."""
    record = a_record()
    content = fingerprint(dispute_from_proto(sample("01").dispute))
    claim = f'{{"dispute_id": "{record.id}", "fingerprint": "{content}"}}'
    await bus.requests.create(request_key("legacy-1"), claim.encode())
    await bus.disputes.create(record.id, legacy_json(record_to_proto(record)))
    submitted = events_pb2.DisputeEvent(
        event_id=f"submitted-{record.id}",
        dispute_id=record.id,
        kind="submitted",
        at=timestamp(record.dispute.received_at),
        dispute=dispute_to_proto(record.dispute),
    )
    await bus.js.publish(
        f"disputes.submitted.{record.id}",
        legacy_json(submitted),
        headers={"Nats-Msg-Id": submitted.event_id},
    )
    names = ("intake", "triage", "notification")
    async with (
        running(settings_for(nats_server.url), names) as stack,
        grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        get = intake_pb2.GetDisputeRequest(dispute_id=record.id)
        told = await eventually(
            lambda: intake.GetDispute(get),
            lambda r: [e.kind for e in r.timeline] == ["received", "routed", "notified"],
        )
        assert told.status == dispute_pb2.DISPUTE_STATUS_ROUTED
        again = intake_pb2.SubmitDisputeRequest(request_id="legacy-1", dispute=sample("01").dispute)
        resubmitted = await intake.SubmitDispute(again)
        assert (resubmitted.dispute_id, resubmitted.duplicate) == (record.id, True)
    stored = await bus.disputes.get(record.id)
    assert stored.value is not None and not stored.value.startswith(b"{")
    assert record_from_bytes(stored.value).status is Status.ROUTED
