"""Dispute records in NATS KV, changed only by compare-and-set on the revision, so two
writers can never overwrite each other's step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from nats.js.errors import KeyWrongLastSequenceError

from fengqiao.domain.errors import NotFound
from fengqiao.domain.model import DisputeRecord, Notification, TimelineEntry
from fengqiao.platform.bus import Bus
from fengqiao.platform.cas import Outcome, compare_and_set, read_entry
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.convert import (
    entry_to_proto,
    notification_from_proto,
    record_from_proto,
    record_to_proto,
)
from fengqiao.v1 import dispute_pb2, notification_pb2

V = TypeVar("V")
R = TypeVar("R")

# Returns the changed record, or None when there is nothing to change.
Change = Callable[[DisputeRecord], DisputeRecord | None]


def record_from_bytes(data: bytes) -> DisputeRecord:
    """A record as stored in the `disputes` bucket."""
    return record_from_proto(decode(data, dispute_pb2.DisputeRecord()))


def notification_from_bytes(data: bytes) -> Notification:
    """A notification as stored in the `notifications` bucket."""
    return notification_from_proto(decode(data, notification_pb2.Notification()))


@dataclass(frozen=True, slots=True)
class Stored:
    """A record as read, with the KV revision a compare-and-set on it must name."""

    record: DisputeRecord
    revision: int


class DisputeStore:
    def __init__(self, bus: Bus) -> None:
        self._kv = bus.disputes
        self._js = bus.js

    async def get(self, dispute_id: str) -> DisputeRecord | None:
        found = await self._get(dispute_id)
        return found.record if found else None

    async def get_message(self, dispute_id: str) -> dispute_pb2.DisputeRecord | None:
        """The record as stored, undecoded into domain values: for a reader of one field."""
        found = await self._get_bytes(dispute_id)
        return _message(found[0]) if found else None

    async def require(self, dispute_id: str) -> DisputeRecord:
        return (await self.read(dispute_id)).record

    async def read(self, dispute_id: str) -> Stored:
        """The record and its revision, to change it later without reading it again."""
        found = await self._get(dispute_id)
        if found is None:
            raise NotFound(
                f"没有编号为 {dispute_id} 的纠纷（no dispute with id {dispute_id}）",
                resource_type="dispute",
                resource_name=f"disputes/{dispute_id}",
            )
        return found

    async def create(self, record: DisputeRecord) -> bool:
        """Store a new record; False if one with this id already exists."""
        try:
            await self._kv.create(record.id, encode(record_to_proto(record)))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def update(
        self, dispute_id: str, change: Change, *, start: Stored | None = None
    ) -> DisputeRecord:
        """Apply `change` to the latest revision, retrying on a concurrent write; the first
        try is on `start` when the caller has just read it. Returns the record as stored
        afterwards."""

        def attempt(current: DisputeRecord) -> tuple[bytes | None, DisputeRecord]:
            changed = change(current)
            if changed is None:
                return None, current
            return encode(record_to_proto(changed)), changed

        first = (start.record, start.revision) if start is not None else None
        return await self._compare_and_set(dispute_id, record_from_bytes, attempt, first)

    async def append_once(self, dispute_id: str, entry: TimelineEntry) -> None:
        """Add `entry` to the timeline unless one with its `event_id` is already there.
        Done on the stored message itself: nothing else of the record is decoded."""
        added = entry_to_proto(entry)

        def attempt(current: dispute_pb2.DisputeRecord) -> tuple[bytes | None, None]:
            if any(e.event_id == entry.event_id for e in current.timeline):
                return None, None
            current.timeline.append(added)
            return encode(current), None

        await self._compare_and_set(dispute_id, _message, attempt)

    async def _compare_and_set(
        self,
        dispute_id: str,
        read: Callable[[bytes], V],
        attempt: Callable[[V], tuple[bytes | None, R]],
        first: tuple[V, int] | None = None,
    ) -> R:
        """`attempt` turns the latest value (`read` from the stored bytes, or `first`) into
        the bytes to write, or None to write nothing, and the result to return."""

        def decide(current: V | None) -> Outcome[R]:
            if current is None:
                raise NotFound(
                    f"没有编号为 {dispute_id} 的纠纷（no dispute with id {dispute_id}）",
                    resource_type="dispute",
                    resource_name=f"disputes/{dispute_id}",
                )
            data, result = attempt(current)
            return Outcome(result, data)

        written = await compare_and_set(self._kv, dispute_id, read, decide, first)
        return written.result

    async def _get(self, dispute_id: str) -> Stored | None:
        found = await self._get_bytes(dispute_id)
        return Stored(record_from_bytes(found[0]), found[1]) if found else None

    async def _get_bytes(self, dispute_id: str) -> tuple[bytes, int] | None:
        return await read_entry(self._kv, dispute_id)


def _message(data: bytes) -> dispute_pb2.DisputeRecord:
    return decode(data, dispute_pb2.DisputeRecord())
