"""Appending to a record's timeline on what a message carries: with the bytes and revision
a routed event brings, `append_once` writes without reading the record first; when the
record changed since, the write conflicts and the append is made on the newer record,
which keeps the other writer's change. Triage's routed event carries exactly what it
stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import grpc

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import DisputeRecord, Status, TimelineEntry
from fengqiao.platform.bus import STREAM, Bus, fact_subject
from fengqiao.platform.codec import decode
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.store import DisputeStore
from fengqiao.v1 import dispute_pb2, events_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.intake.test_record_event import routed_dispute

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def entry(event_id: str) -> TimelineEntry:
    return TimelineEntry(at=AT, kind=EventKind.NOTIFIED, summary="已通知", event_id=event_id)


async def stored_record(bus: Bus, dispute_id: str) -> tuple[bytes, int]:
    found = await bus.disputes.get(dispute_id)
    assert found.value is not None and found.revision is not None
    return found.value, found.revision


async def new_record(store: DisputeStore, dispute_id: str) -> None:
    dispute = replace(dispute_from_proto(sample("01").dispute), id=dispute_id, received_at=AT)
    assert await store.create(
        DisputeRecord(dispute=dispute, status=Status.RECEIVED, request_id=f"r-{dispute_id}")
    )


async def test_a_known_revision_saves_the_read(bus: Bus) -> None:
    store = DisputeStore(bus)
    await new_record(store, "FQ-20261130-00000000a1")
    known = await stored_record(bus, "FQ-20261130-00000000a1")
    sent = bus.nc.stats["out_msgs"]
    await store.append_once("FQ-20261130-00000000a1", entry("notified-1"), known)
    with_known = bus.nc.stats["out_msgs"] - sent
    sent = bus.nc.stats["out_msgs"]
    await store.append_once("FQ-20261130-00000000a1", entry("notified-2"))
    without = bus.nc.stats["out_msgs"] - sent
    assert (with_known, without) == (1, 2)  # the update alone; a read and the update
    record = await store.require("FQ-20261130-00000000a1")
    assert [e.event_id for e in record.timeline][-2:] == ["notified-1", "notified-2"]


async def test_a_stale_revision_appends_to_the_newer_record(bus: Bus) -> None:
    store = DisputeStore(bus)
    await new_record(store, "FQ-20261130-00000000b2")
    stale = await stored_record(bus, "FQ-20261130-00000000b2")
    await store.append_once("FQ-20261130-00000000b2", entry("other-writer"))
    await store.append_once("FQ-20261130-00000000b2", entry("notified-1"), stale)
    await store.append_once("FQ-20261130-00000000b2", entry("notified-1"), stale)  # again
    record = await store.require("FQ-20261130-00000000b2")
    ids = [e.event_id for e in record.timeline]
    assert ids.count("other-writer") == 1 and ids.count("notified-1") == 1


async def test_the_routed_event_carries_the_record_triage_stored(
    intake_channel: grpc.aio.Channel, bus: Bus
) -> None:
    dispute_id = await routed_dispute(intake_pb2_grpc.IntakeServiceStub(intake_channel))
    msg = await bus.js.get_last_msg(STREAM, fact_subject(EventKind.ROUTED, dispute_id))
    event = decode(msg.data or b"", events_pb2.DisputeEvent())
    assert event.record_revision > 0
    then = await bus.disputes.get(dispute_id, revision=event.record_revision)
    assert then.value == event.record
    record = decode(event.record, dispute_pb2.DisputeRecord())
    assert record.decision.rule_id == event.decision.rule_id != ""
