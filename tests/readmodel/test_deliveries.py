"""Delivery outcomes in the read model: ListNotifications' rows show the newest outcome
published for each notification, whichever of the two streams the read model reaches
first; a notification stored by earlier versions, with its status written into it, reads
as it was; and a read model built from zero reads every message of outcomes, not only the
last."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fengqiao.domain.model import Delivery, Notification
from fengqiao.platform.bus import STATUS, Bus
from fengqiao.platform.codec import encode
from fengqiao.platform.convert import delivery_status_to_proto, notification_to_proto, timestamp
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.readmodel import DELIVERIES, NOTIFICATIONS, ReadModel
from fengqiao.v1 import notification_pb2
from tests.conftest import settings_for

CREATED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 11, 30, 8, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def notification(key: str, **changes: object) -> Notification:
    n = Notification(
        id=key,
        dispute_id=key.split(".", maxsplit=1)[0],
        event="routed",
        recipient_id="grid_worker:测试区/一街道/一社区/一网格",
        recipient_role="grid_worker",
        recipient_label="一网格网格员",
        channel="webhook",
        message="请处理",
        created_at=CREATED,
    )
    return replace(n, **changes)  # type: ignore[arg-type]


async def store(bus: Bus, n: Notification) -> None:
    await bus.notifications.put(n.id, encode(notification_to_proto(n)))


async def publish(bus: Bus, *outcomes: tuple[str, Delivery, tuple[str, ...], datetime]) -> None:
    message = notification_pb2.DeliveryOutcomes(
        outcomes=[
            notification_pb2.DeliveryOutcome(
                notification_id=key,
                status=delivery_status_to_proto(status),
                via=via,
                at=timestamp(at),
            )
            for key, status, via, at in outcomes
        ]
    )
    await bus.js.publish(STATUS, encode(message))


@pytest.fixture
async def reads(bus: Bus, nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[ReadModel]:
    model = await ReadModel.start(
        bus, settings_for(nats_server.url, data_dir=tmp_path), [NOTIFICATIONS, DELIVERIES]
    )
    yield model
    await model.stop()


async def listed(reads: ReadModel, dispute_id: str) -> dict[str, Notification]:
    page, _ = await reads.notifications(dispute_id, "", 100, "")
    return {n.id: n for n in page}


async def test_a_stored_status_reads_as_written_until_an_outcome_is_published(
    bus: Bus, reads: ReadModel
) -> None:
    # Written by a version that recorded the outcome in the notification itself.
    old = notification(
        "FQ-A.e1.h1", delivery=Delivery.SENT, delivered_via=("webhook",), delivered_at=SENT_AT
    )
    await store(bus, old)
    assert (await listed(reads, "FQ-A"))["FQ-A.e1.h1"] == old
    # Redriven from the dead letters, say: the newest outcome is what the listing shows.
    await publish(bus, ("FQ-A.e1.h1", Delivery.DEAD_LETTERED, ("log",), LATER))
    now = (await listed(reads, "FQ-A"))["FQ-A.e1.h1"]
    assert (now.delivery, now.delivered_via, now.delivered_at) == (
        Delivery.DEAD_LETTERED,
        ("log",),
        LATER,
    )
    assert now.message == old.message  # the rest as stored


async def test_an_outcome_read_before_its_notification_is_shown_with_it(
    bus: Bus, reads: ReadModel
) -> None:
    await publish(bus, ("FQ-B.e1.h1", Delivery.LOGGED_ONLY, ("log",), SENT_AT))
    assert await listed(reads, "FQ-B") == {}
    await store(bus, notification("FQ-B.e1.h1"))
    found = (await listed(reads, "FQ-B"))["FQ-B.e1.h1"]
    assert (found.delivery, found.delivered_via) == (Delivery.LOGGED_ONLY, ("log",))


async def test_the_newest_outcome_wins_and_a_rebuild_reads_every_message(
    bus: Bus, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    for key in ("FQ-C.e1.h1", "FQ-C.e1.h2", "FQ-C.e1.h3"):
        await store(bus, notification(key))
    # In one message and across messages: a later one overrides an earlier one.
    await publish(
        bus,
        ("FQ-C.e1.h1", Delivery.DEAD_LETTERED, (), SENT_AT),
        ("FQ-C.e1.h2", Delivery.SENT, ("sms",), SENT_AT),
    )
    await publish(bus, ("FQ-C.e1.h1", Delivery.SENT, ("webhook",), LATER))
    await publish(bus, ("FQ-C.e1.h3", Delivery.UNROUTABLE, (), LATER))
    want = {
        "FQ-C.e1.h1": (Delivery.SENT, ("webhook",)),
        "FQ-C.e1.h2": (Delivery.SENT, ("sms",)),
        "FQ-C.e1.h3": (Delivery.UNROUTABLE, ()),
    }
    # Built from zero (all three messages in one fetch), then one more while following.
    settings = settings_for(nats_server.url, data_dir=tmp_path / "built")
    reads = await ReadModel.start(bus, settings, [NOTIFICATIONS, DELIVERIES])
    try:
        found = await listed(reads, "FQ-C")
        assert {k: (n.delivery, n.delivered_via) for k, n in found.items()} == want
        await publish(bus, ("FQ-C.e1.h2", Delivery.DEAD_LETTERED, ("sms",), LATER))
        found = await listed(reads, "FQ-C")
    finally:
        await reads.stop()
    assert found["FQ-C.e1.h2"].delivery == Delivery.DEAD_LETTERED
    assert found["FQ-C.e1.h1"].delivered_at == LATER
