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
from fengqiao.platform.cas import Outcome, Written, compare_and_set, read_entry
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


@dataclass(frozen=True, slots=True)
class Kept:
    """A record as a change left it: the bytes stored and their revision, when the change
    wrote (a change that wrote nothing knows neither)."""

    record: DisputeRecord
    written: tuple[bytes, int] | None


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
        return (await self.change(dispute_id, change, start=start)).record

    async def change(self, dispute_id: str, change: Change, *, start: Stored | None = None) -> Kept:
        """`update`, also saying what it wrote."""

        def attempt(current: DisputeRecord) -> tuple[bytes | None, tuple[DisputeRecord, bytes]]:
            changed = change(current)
            if changed is None:
                return None, (current, b"")
            data = encode(record_to_proto(changed))
            return data, (changed, data)

        first = (start.record, start.revision) if start is not None else None
        written = await self._compare_and_set(dispute_id, record_from_bytes, attempt, first)
        (record, data), revision = written.result, written.revision
        return Kept(record, (data, revision) if revision is not None else None)

    async def append_once(
        self, dispute_id: str, entry: TimelineEntry, known: tuple[bytes, int] | None = None
    ) -> None:
        """Add `entry` to the timeline unless one with its `event_id` is already there.
        Done on the stored message itself: nothing else of the record is decoded. `known`
        (the stored bytes and their revision, as a routed event carries them) saves the
        first read; if the record changed since, it costs a conflict and a read."""
        added = entry_to_proto(entry)

        def attempt(current: dispute_pb2.DisputeRecord) -> tuple[bytes | None, None]:
            if any(e.event_id == entry.event_id for e in current.timeline):
                return None, None
            current.timeline.append(added)
            return encode(current), None

        first = (_message(known[0]), known[1]) if known is not None else None
        await self._compare_and_set(dispute_id, _message, attempt, first)

    async def _compare_and_set(
        self,
        dispute_id: str,
        read: Callable[[bytes], V],
        attempt: Callable[[V], tuple[bytes | None, R]],
        first: tuple[V, int] | None = None,
    ) -> Written[R]:
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

        return await compare_and_set(self._kv, dispute_id, read, decide, first)

    async def _get(self, dispute_id: str) -> Stored | None:
        found = await self._get_bytes(dispute_id)
        return Stored(record_from_bytes(found[0]), found[1]) if found else None

    async def _get_bytes(self, dispute_id: str) -> tuple[bytes, int] | None:
        return await read_entry(self._kv, dispute_id)


def _message(data: bytes) -> dispute_pb2.DisputeRecord:
    return decode(data, dispute_pb2.DisputeRecord())
