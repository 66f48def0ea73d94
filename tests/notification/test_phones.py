"""Parties' phone numbers, read from the stored dispute when an SMS is sent: the parties
of one dispute, told together, cost one read; a later send reads again."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fengqiao.domain.model import DisputeRecord, Status
from fengqiao.notification.phones import PartyPhones
from fengqiao.platform.bus import Bus
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.store import DisputeStore
from fengqiao.v1 import dispute_pb2
from tests.conftest import sample


class CountingStore(DisputeStore):
    """The real store on the real bus, counting its reads."""

    reads = 0

    async def get_message(self, dispute_id: str) -> dispute_pb2.DisputeRecord | None:
        self.reads += 1
        return await super().get_message(dispute_id)


async def _stored(bus: Bus, dispute_id: str) -> tuple[str, ...]:
    dispute = replace(dispute_from_proto(sample("01").dispute), id=dispute_id)
    record = DisputeRecord(dispute=dispute, status=Status.RECEIVED, request_id=dispute_id)
    assert await DisputeStore(bus).create(record)
    return tuple(p.phone for p in dispute.parties)


async def test_the_parties_of_one_dispute_cost_one_read(bus: Bus) -> None:
    expected = await _stored(bus, "FQ-20261129-0000000001")
    store = CountingStore(bus)
    phones = PartyPhones(store)
    told = await asyncio.gather(
        *(phones.phone("FQ-20261129-0000000001", i) for i in range(len(expected)))
    )
    assert tuple(told) == expected and len(expected) == 2
    assert await phones.phone("FQ-20261129-0000000001", 0) == expected[0]
    assert store.reads == 1
    assert await phones.phone("FQ-20261129-0000000001", 7) == ""  # no such party
    assert await phones.phone("FQ-20261129-0000000404", 0) == ""  # no such dispute


async def test_numbers_are_read_again_once_kept_long_enough(bus: Bus) -> None:
    expected = await _stored(bus, "FQ-20261129-0000000002")
    store = CountingStore(bus)
    phones = PartyPhones(store, keep_seconds=0.0)
    assert await phones.phone("FQ-20261129-0000000002", 1) == expected[1]
    assert await phones.phone("FQ-20261129-0000000002", 1) == expected[1]
    assert store.reads == 2


async def test_a_failed_read_is_not_kept(bus: Bus) -> None:
    expected = await _stored(bus, "FQ-20261129-0000000003")

    class FailingOnce(CountingStore):
        async def get_message(self, dispute_id: str) -> dispute_pb2.DisputeRecord | None:
            if self.reads == 0:
                self.reads += 1
                raise TimeoutError("the bus did not answer")
            return await super().get_message(dispute_id)

    phones = PartyPhones(FailingOnce(bus))
    failed = await asyncio.gather(phones.phone("FQ-20261129-0000000003", 0), return_exceptions=True)
    assert isinstance(failed[0], TimeoutError)
    assert await phones.phone("FQ-20261129-0000000003", 0) == expected[0]
