"""What one stored revision becomes in the database: the filtered columns, the record's
own contribution to each figure, and the stored bytes themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fengqiao.convert import from_timestamp, notification_from_proto
from fengqiao.domain import epoch
from fengqiao.domain.model import DisputeRecord, Notification
from fengqiao.domain.stats import compute_stats
from fengqiao.platform.codec import decode
from fengqiao.platform.store import record_from_bytes
from fengqiao.readmodel.schema import COUNTED
from fengqiao.v1 import notification_pb2

Row = dict[str, Any]


def micros(at: datetime | None) -> int | None:
    """`at` as a column's value: microseconds since 1970 UTC, None for no time."""
    return None if at is None else epoch.micros(at)


def dispute_row(key: str, seq: int, data: bytes) -> tuple[Row, DisputeRecord]:
    """The row of one revision of a dispute record, and the record it decoded."""
    record = record_from_bytes(data)
    dispute, decision = record.dispute, record.decision
    loc = dispute.location
    # The figures' own definition, over this one record: summing the rows cannot differ.
    counts = compute_stats((record,))
    row: Row = {
        "id": key,
        "seq": seq,
        "received_us": micros(dispute.received_at) or 0,
        "district": loc.district,
        "street": loc.street,
        "community": loc.community,
        "grid": loc.grid,
        "category": dispute.category,
        "status": record.status.value,
        "colour": record.status.colour.value,
        "route": decision.route.value if decision is not None else "",
        "rule_id": decision.rule_id if decision is not None else "",
        "step": record.step,
        "deadline_us": micros(decision.deadline) if decision is not None else None,
        "accepted_us": micros(record.accepted_at),
        "closed_us": micros(record.closed_at),
        "satisfaction": record.satisfaction,
        "record": data,
    }
    for name in COUNTED:
        row[f"n_{name}"] = int(getattr(counts, name))
    return row, record


def notification_row(key: str, seq: int, data: bytes) -> Row:
    # Three fields are wanted: read them off the message, not through the domain value.
    m = decode(data, notification_pb2.Notification())
    return {
        "id": key,
        "seq": seq,
        "dispute_id": m.dispute_id,
        "recipient_id": m.recipient_id,
        "created_us": micros(from_timestamp(m, "created_at")) or 0,
        "data": data,
    }


def read_notification(data: bytes) -> Notification:
    return notification_from_proto(decode(data, notification_pb2.Notification()))
