"""Dispute records in NATS KV, changed only by compare-and-set on the revision, so two
writers can never overwrite each other's step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from fengqiao.convert import record_from_proto, record_to_proto
from fengqiao.domain.errors import NotFound
from fengqiao.domain.model import DisputeRecord, TimelineEntry
from fengqiao.platform.bus import Bus
from fengqiao.platform.codec import decode, encode
from fengqiao.v1 import dispute_pb2

log = structlog.get_logger()

MAX_CONFLICTS = 50

# Returns the changed record, or None when there is nothing to change.
Change = Callable[[DisputeRecord], DisputeRecord | None]


def append_once(entry: TimelineEntry) -> Change:
    """Add `entry` to the timeline unless one with its `event_id` is already there."""

    def apply(current: DisputeRecord) -> DisputeRecord | None:
        if current.has_event(entry.event_id):
            return None
        return replace(current, timeline=(*current.timeline, entry))

    return apply


def record_from_bytes(data: bytes) -> DisputeRecord:
    """A record as stored in the `disputes` bucket."""
    return record_from_proto(decode(data, dispute_pb2.DisputeRecord()))


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
        try:
            entry = await self._kv.get(dispute_id)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return decode(entry.value, dispute_pb2.DisputeRecord())

    async def require(self, dispute_id: str) -> DisputeRecord:
        return (await self.read(dispute_id)).record

    async def read(self, dispute_id: str) -> Stored:
        """The record and its revision, to change it later without reading it again."""
        found = await self._get(dispute_id)
        if found is None:
            raise NotFound(f"没有编号为 {dispute_id} 的纠纷（no dispute with id {dispute_id}）")
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
        found = start
        for _ in range(MAX_CONFLICTS):
            if found is None:
                found = await self._get(dispute_id)
            if found is None:
                raise NotFound(f"no dispute with id {dispute_id}")
            current, revision = found.record, found.revision
            found = None
            changed = change(current)
            if changed is None:
                return current
            try:
                await self._kv.update(dispute_id, encode(record_to_proto(changed)), last=revision)
            except KeyWrongLastSequenceError:
                log.debug("dispute_update_conflicted", dispute_id=dispute_id, revision=revision)
                continue
            return changed
        raise RuntimeError(f"dispute {dispute_id}: {MAX_CONFLICTS} write conflicts in a row")

    async def _get(self, dispute_id: str) -> Stored | None:
        try:
            entry = await self._kv.get(dispute_id)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(record_from_bytes(entry.value), entry.revision)
