"""The `repeats` bucket: which earlier disputes each grid and category, and each party,
had, so triage can count similar disputes (`triage/repeats.py`). Its keys and values are
written here once, for the counter and for the retention job, which takes an anonymised
dispute out of its parties' keys (`forget`).

A key is `grid.<digest of the place>.<category>` or `party.<digest of a phone number>`;
its value is `{dispute id: received at, in microseconds since 1970}` as JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from nats.js.kv import KeyValue

from fengqiao.domain.epoch import micros
from fengqiao.domain.model import DisputeRecord
from fengqiao.platform.cas import DELETE, Outcome, compare_and_set

# Dispute id → when it was received, in microseconds since 1970 (as stored): a busy
# grid's key holds every dispute of the window, compared and rewritten on each new one.
Seen = dict[str, int]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def grid_key(record: DisputeRecord) -> str:
    return f"grid.{_digest(record.dispute.location.path())}.{record.dispute.category}"


def party_keys(record: DisputeRecord) -> list[str]:
    """One key per applicant with a phone number (names alone are too ambiguous)."""
    phones = {p.phone for p in record.dispute.parties if p.role == "applicant" and p.phone}
    return [f"party.{_digest(phone)}" for phone in sorted(phones)]


def encode_seen(seen: Seen) -> bytes:
    """`{dispute id: received at, in microseconds since the epoch}` as JSON: a busy grid's
    key holds every dispute of the window, rewritten on each new one, so it is kept lean."""
    return json.dumps(seen).encode()


def append_seen(data: bytes, dispute_id: str, at: int) -> bytes:
    """`encode_seen` of the map `data` was made of, with `dispute_id: at` added last (not
    yet in it): the same bytes, without encoding every entry again."""
    entry = b"%s: %d}" % (json.dumps(dispute_id).encode(), at)
    return b"{" + entry if data == b"{}" else data[:-1] + b", " + entry


def decode_seen(data: bytes) -> Seen:
    """Reads what `encode_seen` writes, and the ISO times earlier versions wrote."""
    return {
        k: v if isinstance(v, int) else micros(datetime.fromisoformat(v))
        for k, v in json.loads(data).items()
    }


async def forget(kv: KeyValue, record: DisputeRecord) -> None:
    """Take `record` out of its parties' counts: the keys are digests of phone numbers,
    so an anonymised dispute must not stay linked to one."""

    def decide(seen: Seen | None) -> Outcome[None]:
        if seen is None or record.id not in seen:
            return Outcome(None)
        kept = {k: v for k, v in seen.items() if k != record.id}
        return Outcome(None, encode_seen(kept) if kept else DELETE)

    for key in party_keys(record):
        await compare_and_set(kv, key, decode_seen, decide)
