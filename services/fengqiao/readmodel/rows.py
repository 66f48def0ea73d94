"""What one stored revision becomes in the database: the filtered columns, the record's
own contribution to each figure, and the stored bytes themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fengqiao.domain import epoch
from fengqiao.domain.anonymise import ANONYMISED
from fengqiao.domain.stats import figures_of
from fengqiao.platform.codec import decode
from fengqiao.platform.convert import facts_from_proto, from_timestamp
from fengqiao.readmodel.schema import COUNTED
from fengqiao.v1 import dispute_pb2, notification_pb2

Row = dict[str, Any]


def micros(at: datetime | None) -> int | None:
    """`at` as a column's value: microseconds since 1970 UTC, None for no time."""
    return None if at is None else epoch.micros(at)


def dispute_row(key: str, seq: int, data: bytes) -> tuple[Row, bool]:
    """The row of one revision of a dispute record, and whether the record is anonymised.
    Read off the message: a row needs a few fields and the figures' facts, not the
    decoded record (that took most of a rebuild's time)."""
    m = decode(data, dispute_pb2.DisputeRecord())
    facts = facts_from_proto(m)
    dispute, decision = m.dispute, m.decision if m.HasField("decision") else None
    loc = dispute.location
    # The figures' own definition, over this one record: summing the rows cannot differ.
    figures = figures_of(facts)
    row: Row = {
        "id": key,
        "seq": seq,
        "received_us": micros(facts.received_at) or 0,
        "district": loc.district.strip(),
        "street": facts.street,
        "community": facts.community,
        "grid": loc.grid.strip(),
        "category": dispute.category.strip(),
        "status": facts.status.value,
        "colour": facts.status.colour.value,
        "route": facts.level.value if facts.level is not None else "",
        "rule_id": decision.rule_id if decision is not None else "",
        "step": facts.step,
        "deadline_us": micros(facts.deadline),
        "accepted_us": micros(from_timestamp(m, "accepted_at")),
        "closed_us": micros(facts.closed_at),
        "satisfaction": facts.satisfaction,
        "record": data,
    }
    for name in COUNTED:
        row[f"n_{name}"] = int(getattr(figures, name))
    return row, any(e.kind == ANONYMISED for e in m.timeline)


def notification_row(key: str, seq: int, data: bytes) -> tuple[Row, bool]:
    """The row, and whether the notification is anonymised (its old bytes to be wiped)."""
    # Three fields are wanted: read them off the message, not through the domain value.
    m = decode(data, notification_pb2.Notification())
    row = {
        "id": key,
        "seq": seq,
        "dispute_id": m.dispute_id,
        "recipient_id": m.recipient_id,
        "created_us": micros(from_timestamp(m, "created_at")) or 0,
        "data": data,
    }
    return row, m.anonymised


def delivery_rows(seq: int, data: bytes) -> list[Row]:
    """The rows of one message of outcomes (`DeliveryOutcomes`), each at the message's
    sequence: a later message about the same notification overwrites them."""
    m = decode(data, notification_pb2.DeliveryOutcomes())
    return [
        {
            "id": o.notification_id,
            "seq": seq,
            "status": o.status,
            "via": " ".join(o.via),
            "delivered_us": micros(from_timestamp(o, "at")),
        }
        for o in m.outcomes
        if o.notification_id
    ]
