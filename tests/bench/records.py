"""Reading a dispute record from the `disputes` bucket as cheaply as the watch needs.

The benchmark runs beside the services on two cores, so its own decoding must stay small:
protobuf JSON (what earlier versions store) is read with the standard `json` module, not
`json_format` (~580 µs a record); binary protobuf (what later versions store) with upb
(~4 µs). The two cannot be confused: JSON starts with `{`, a start-group tag proto3 never
writes. Anything else falls back to the tree's own reader."""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from fengqiao.v1 import dispute_pb2

NOTIFIED = "notified"


@dataclass(frozen=True, slots=True)
class Progress:
    dispute_id: str
    routed: bool
    told: bool


def progress(data: bytes, key: str) -> Progress | None:
    """Whether the record has a decision, and a `notified` timeline entry (the
    notification worker appends it once every recipient's notification is stored).
    None for a deletion or bytes nothing can read."""
    if not data:
        return None
    if data[:1] == b"{":
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        dispute = doc.get("dispute") or {}
        kinds = {entry.get("kind") for entry in doc.get("timeline") or ()}
        return Progress(dispute.get("id") or key, "decision" in doc, NOTIFIED in kinds)
    record = dispute_pb2.DisputeRecord()
    try:
        record.ParseFromString(data)
    except DecodeError:
        return _fallback(data, key)
    told = any(entry.kind == NOTIFIED for entry in record.timeline)
    return Progress(record.dispute.id or key, record.HasField("decision"), told)


def _fallback(data: bytes, key: str) -> Progress | None:
    # Imported only if needed: the tree's store module is being changed while this runs.
    from fengqiao.platform.store import record_from_bytes  # noqa: PLC0415

    try:
        record = record_from_bytes(data)
    except Exception:
        return None
    told = any(entry.kind == NOTIFIED for entry in record.timeline)
    return Progress(record.id or key, record.decision is not None, told)
