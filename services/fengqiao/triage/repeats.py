"""Counts of similar disputes in NATS KV: same grid and category, and same party, within
the policy's window. The counts are context facts the rules read (`similar_recent`,
`party_recent`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from fengqiao.domain.model import DisputeRecord

MAX_CONFLICTS = 50


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def grid_key(record: DisputeRecord) -> str:
    return f"grid.{_digest(record.dispute.location.path())}.{record.dispute.category}"


def party_keys(record: DisputeRecord) -> list[str]:
    """One key per applicant with a phone number (names alone are too ambiguous)."""
    phones = {p.phone for p in record.dispute.parties if p.role == "applicant" and p.phone}
    return [f"party.{_digest(phone)}" for phone in sorted(phones)]


class RepeatCounter:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def counts(
        self, record: DisputeRecord, window_days: int, *, remember: bool
    ) -> tuple[int, int]:
        """(similar_recent, party_recent): earlier disputes within the window before this one.
        With `remember`, this dispute is counted for the ones after it (idempotently)."""
        at = record.dispute.received_at
        if at is None:
            return 0, 0
        since = at - timedelta(days=window_days)
        similar, *by_party = await asyncio.gather(
            *(
                self._count(key, record.id, at, since, remember)
                for key in (grid_key(record), *party_keys(record))
            )
        )
        return similar, max(by_party, default=0)

    async def _count(
        self, key: str, dispute_id: str, at: datetime, since: datetime, remember: bool
    ) -> int:
        for _ in range(MAX_CONFLICTS):
            seen, revision = await self._read(key)
            earlier = sum(
                1 for other, when in seen.items() if other != dispute_id and since <= when < at
            )
            if not remember or dispute_id in seen:
                return earlier
            kept = {k: v.isoformat() for k, v in seen.items() if v >= since}
            kept[dispute_id] = at.isoformat()
            data = json.dumps(kept).encode()
            try:
                if revision is None:
                    await self._kv.create(key, data)
                else:
                    await self._kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                continue
            return earlier
        raise RuntimeError(f"{key}: {MAX_CONFLICTS} write conflicts in a row")

    async def forget(self, record: DisputeRecord) -> None:
        """Take `record` out of its parties' counts: the keys are digests of phone numbers,
        so an anonymised dispute must not stay linked to one."""
        for key in party_keys(record):
            for _ in range(MAX_CONFLICTS):
                seen, revision = await self._read(key)
                if revision is None or record.id not in seen:
                    break
                kept = {k: v.isoformat() for k, v in seen.items() if k != record.id}
                try:
                    if kept:
                        await self._kv.update(key, json.dumps(kept).encode(), last=revision)
                    else:
                        await self._kv.delete(key, last=revision)
                except KeyWrongLastSequenceError:
                    continue
                break

    async def _read(self, key: str) -> tuple[dict[str, datetime], int | None]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return {}, None
        raw = json.loads(entry.value or b"{}")
        return {k: datetime.fromisoformat(v) for k, v in raw.items()}, entry.revision
