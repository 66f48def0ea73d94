"""Delivery outcomes are published together: the sends that finish while one publish is
under way share the next message, each `record` returns only once its outcome is stored
on the bus, and a failed publish is raised to every delivery it carried, without stopping
later ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from nats.js.api import StreamConfig

from fengqiao.domain.model import Delivery
from fengqiao.notification.records import MAX_BATCH, DeliveryStatuses
from fengqiao.platform.bus import STATUS, STATUS_STREAM, Bus
from fengqiao.platform.codec import decode
from fengqiao.v1 import notification_pb2

N = notification_pb2
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def published(bus: Bus) -> list[notification_pb2.DeliveryOutcomes]:
    info = await bus.js.stream_info(STATUS_STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(STATUS_STREAM, seq)
        assert msg.subject == STATUS
        found.append(decode(msg.data or b"", N.DeliveryOutcomes()))
    return found


async def test_outcomes_finished_together_share_one_message(bus: Bus) -> None:
    statuses = DeliveryStatuses(bus.js)
    ids = [f"FQ-1.e{i}.r" for i in range(MAX_BATCH + 10)]
    await asyncio.gather(
        *(statuses.record(i, Delivery.SENT, ("webhook", "log"), at=AT) for i in ids)
    )
    messages = await published(bus)
    # All were waiting before the first publish: one full message, then the rest.
    assert [len(m.outcomes) for m in messages] == [MAX_BATCH, 10]
    outcomes = [o for m in messages for o in m.outcomes]
    assert [o.notification_id for o in outcomes] == ids
    first = outcomes[0]
    assert (first.status, list(first.via)) == (N.DELIVERY_STATUS_SENT, ["webhook", "log"])
    assert first.at.ToDatetime(UTC) == AT


async def test_outcomes_arriving_during_a_publish_go_in_the_next(bus: Bus) -> None:
    statuses = DeliveryStatuses(bus.js)
    first = asyncio.create_task(statuses.record("FQ-1.a.r", Delivery.SENT, ("sms",), at=AT))
    await asyncio.sleep(0)  # the first publish is under way
    later = [
        asyncio.create_task(statuses.record(f"FQ-2.b{i}.r", Delivery.LOGGED_ONLY, (), at=AT))
        for i in range(5)
    ]
    await asyncio.gather(first, *later)
    assert [len(m.outcomes) for m in await published(bus)] == [1, 5]


async def test_a_failed_publish_is_raised_to_each_delivery_and_the_next_ones_go_on(
    bus: Bus,
) -> None:
    await bus.js.delete_stream(STATUS_STREAM)  # nothing stores the subject: no responders
    statuses = DeliveryStatuses(bus.js)
    results = await asyncio.gather(
        *(statuses.record(f"FQ-3.c{i}.r", Delivery.SENT, (), at=AT) for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results), results
    await bus.js.add_stream(StreamConfig(name=STATUS_STREAM, subjects=[STATUS]))
    await statuses.record("FQ-4.d.r", Delivery.DEAD_LETTERED, (), at=AT)
    (message,) = await published(bus)
    assert [(o.notification_id, o.status) for o in message.outcomes] == [
        ("FQ-4.d.r", N.DELIVERY_STATUS_DEAD_LETTERED)
    ]


async def test_a_cancelled_delivery_does_not_hold_up_the_others(bus: Bus) -> None:
    statuses = DeliveryStatuses(bus.js)
    gone = asyncio.create_task(statuses.record("FQ-5.a.r", Delivery.SENT, (), at=AT))
    kept = asyncio.create_task(statuses.record("FQ-5.b.r", Delivery.SENT, (), at=AT))
    await asyncio.sleep(0)
    gone.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    # What was handed over is published all the same: harmless, it happened.
    (message,) = await published(bus)
    assert {o.notification_id for o in message.outcomes} == {"FQ-5.a.r", "FQ-5.b.r"}
