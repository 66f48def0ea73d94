"""The retention job against a real NATS server and the three services: after it, no trace
of a long-closed dispute's parties is left anywhere on the bus but the expiring feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError
from structlog.testing import capture_logs

from fengqiao.domain.anonymise import (
    ANONYMISED,
    Scrubber,
    anonymise_record,
    is_anonymised,
)
from fengqiao.domain.model import DisputeRecord
from fengqiao.notification.dead_letters import list_dead_letters
from fengqiao.platform.bus import (
    DLQ_STREAM,
    KV_DISPUTES,
    NOTIFY_MAX_AGE_SECONDS,
    NOTIFY_STREAM,
    Bus,
    connect,
    kv_history,
)
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.platform.repeats import party_keys
from fengqiao.platform.store import DisputeStore
from fengqiao.retention import FINISH_WITHIN, apply_retention
from fengqiao.stack import Stack, running
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)
from tests.conftest import sample, settings_for
from tests.domain.test_anonymise import secrets_of as secrets_of_dispute
from tests.intake.test_record_event import event, routed_dispute
from tests.notification.test_delivery import directory
from tests.receivers import http_receiver
from tests.support import eventually

KEEP = timedelta(days=365)


def secrets_of(prefix: str) -> list[str]:
    """What identifies the parties of sample `prefix`; the first party's name third."""
    return secrets_of_dispute(dispute_from_proto(sample(prefix).dispute))


async def messages_naming(bus: Bus, secrets: list[str]) -> dict[str, list[str]]:
    """stream → the subjects of its messages that contain any of `secrets`."""
    found: dict[str, list[str]] = {}
    encoded = [s.encode() for s in secrets]
    for info in await bus.js.streams_info():
        name = info.config.name
        assert name is not None
        if not info.state.messages:
            continue
        sub = await bus.js.pull_subscribe(
            ">", stream=name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )  # fmt: skip
        seen = 0
        while seen < info.state.messages:
            try:
                batch = await sub.fetch(256, timeout=2)
            except nats.errors.TimeoutError:
                break
            seen += len(batch)
            for msg in batch:
                if any(s in msg.data for s in encoded):
                    found.setdefault(name, []).append(msg.subject)
        await sub.unsubscribe()
    return found


def files_naming(directory: Path, secrets: list[str]) -> list[str]:
    """The files under `directory` (the read model's database) holding any of `secrets`."""
    encoded = [s.encode() for s in secrets]
    return sorted(
        str(path)
        for path in directory.rglob("*")
        if path.is_file() and any(s in path.read_bytes() for s in encoded)
    )


async def remembered(bus: Bus, key: str) -> str:
    """What the same-party counts hold under `key`."""
    try:
        entry = await bus.repeats.get(key)
    except KeyNotFoundError:
        return ""
    return (entry.value or b"").decode()


async def close(intake: intake_pb2_grpc.IntakeServiceAsyncStub, prefix: str) -> str:
    dispute_id = await routed_dispute(intake, prefix)
    for kind in ("accepted", "mediation_started"):
        await intake.RecordEvent(event(dispute_id, kind))
    await intake.RecordEvent(event(dispute_id, "resolved", reason=f"{secrets_of(prefix)[2]}满意"))
    return dispute_id


async def test_a_long_closed_dispute_leaves_no_trace_of_its_parties(
    intake_channel: grpc.aio.Channel, bus: Bus, stack: Stack
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    closed_id = await close(intake, "01")
    open_id = await routed_dispute(intake, "02")
    store = DisputeStore(bus)
    closed = await store.require(closed_id)
    assert closed.closed_at is not None
    later = closed.closed_at + KEEP
    secrets = secrets_of("01")
    assert set(await messages_naming(bus, secrets)) >= {"DISPUTES", "KV_disputes", "NOTIFY"}
    keys = party_keys(closed)
    assert keys and all([closed_id in await remembered(bus, k) for k in keys])
    await intake.ListDisputes(intake_pb2.ListDisputesRequest())  # the read model has it all
    assert files_naming(stack.settings.data_dir, secrets)

    dry = await apply_retention(bus, later, KEEP, dry_run=True)
    assert dry.anonymised == [closed_id] and dry.examined == 2
    assert await store.require(closed_id) == closed
    early = await apply_retention(bus, later - timedelta(seconds=1), KEEP)
    assert early.anonymised == []

    report = await apply_retention(bus, later, KEEP)
    assert report.anonymised == [closed_id]
    # Only the notification feed still names them, and it expires.
    assert set(await messages_naming(bus, secrets)) == {NOTIFY_STREAM}
    notify = await bus.js.stream_info(NOTIFY_STREAM)
    assert notify.config.max_age == NOTIFY_MAX_AGE_SECONDS
    # What the platform reads: status and ladder kept, the parties gone, the reason told.
    shown = await intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=closed_id))
    assert [p.name for p in shown.dispute.parties] == ["当事人1", "当事人2"]
    assert shown.timeline[-1].kind == ANONYMISED and "365" in shown.timeline[-1].summary
    assert shown.status == dispute_pb2.DISPUTE_STATUS_RESOLVED
    assert [e.kind for e in shown.timeline][:3] == ["received", "routed", "notified"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as channel:
        listed = await notification_pb2_grpc.NotificationServiceStub(channel).ListNotifications(
            notification_pb2.ListNotificationsRequest(dispute_id=closed_id)
        )
    texts = [n.message + n.recipient_label + n.address for n in listed.notifications]
    assert texts and [t for t in texts if any(s in t for s in secrets)] == []
    # Nor do the read model's database files: rows, freed pages, write-ahead log.
    await intake.ListDisputes(intake_pb2.ListDisputesRequest())
    assert files_naming(stack.settings.data_dir, secrets) == []
    history = await kv_history(bus.js, KV_DISPUTES, closed_id)
    assert len(history) == 1
    assert keys and [k for k in keys if closed_id in await remembered(bus, k)] == []
    # The open dispute is untouched, and a second run changes nothing.
    assert (await store.require(open_id)).dispute.parties[0].name == secrets_of("02")[2]
    before = (await bus.disputes.get(closed_id)).revision
    again = await apply_retention(bus, later + KEEP, KEEP)
    assert (again.anonymised, again.finished) == ([], [])
    assert (await bus.disputes.get(closed_id)).revision == before


async def test_a_run_stopped_before_purging_old_revisions_is_finished_by_the_next(
    intake_channel: grpc.aio.Channel, bus: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await close(intake, "03")
    store = DisputeStore(bus)
    record = await store.require(dispute_id)
    assert record.closed_at is not None
    later = record.closed_at + KEEP

    def anonymised(current: DisputeRecord) -> DisputeRecord:
        return anonymise_record(current, later, Scrubber.of(current.dispute), note="已脱敏")

    await store.update(dispute_id, anonymised)  # step 4 done, step 5 not
    assert len(await kv_history(bus.js, KV_DISPUTES, dispute_id)) > 1
    # A later run looks back a month for such leftovers, not through every record ever.
    too_late = await apply_retention(bus, later + FINISH_WITHIN + timedelta(days=1), KEEP)
    assert (too_late.anonymised, too_late.finished) == ([], [])
    report = await apply_retention(bus, later + FINISH_WITHIN, KEEP)
    assert (report.anonymised, report.finished) == ([], [dispute_id])
    assert len(await kv_history(bus.js, KV_DISPUTES, dispute_id)) == 1
    assert f"KV_{KV_DISPUTES}" not in await messages_naming(bus, secrets_of("03"))


async def test_its_dead_letters_go_too(nats_server: EmbeddedNats, tmp_path: Path) -> None:
    async with http_receiver(failing=True) as receiver:
        settings = replace(
            settings_for(nats_server.url),
            directory_file=directory(tmp_path, f"http://127.0.0.1:{receiver.port}/hook"),
            delivery_attempts=1, delivery_backoff_seconds=0.1,
        )  # fmt: skip
        async with running(settings, ("intake", "triage", "notification")) as stack:
            bus = await connect(nats_server.url, "operator")
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as ch:
                    dispute_id = await close(intake_pb2_grpc.IntakeServiceStub(ch), "01")
                letters = await eventually(lambda: list_dead_letters(bus.js), lambda d: len(d) > 0)
                assert {d.notification_id.split(".")[0] for d in letters} == {dispute_id}
                closed_at = (await DisputeStore(bus).require(dispute_id)).closed_at
                assert closed_at is not None
                await apply_retention(bus, closed_at + KEEP, KEEP)
                assert await list_dead_letters(bus.js) == []
                assert DLQ_STREAM not in await messages_naming(bus, secrets_of("01"))
            finally:
                await bus.close()


async def test_one_dispute_that_fails_does_not_hold_back_the_others(
    intake_channel: grpc.aio.Channel, bus: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    broken_id, fine_id = await close(intake, "01"), await close(intake, "03")
    await bus.notifications.put(f"{broken_id}.damaged.x", b"not a notification")
    store = DisputeStore(bus)
    closed = [(await store.require(i)).closed_at for i in (broken_id, fine_id)]
    later = max(c for c in closed if c is not None) + KEEP
    with capture_logs() as logs:
        report = await apply_retention(bus, later, KEEP)
    assert (report.anonymised, report.failed) == ([fine_id], [broken_id])
    (failure,) = [e for e in logs if e["event"] == "dispute_anonymise_failed"]
    assert failure["dispute_id"] == broken_id and "Unreadable" in failure["error"]
    assert not is_anonymised(await store.require(broken_id))  # tried again next time
    assert is_anonymised(await store.require(fine_id))
