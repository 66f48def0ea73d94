"""Anonymisation (脱敏) of closed disputes past their retention period: pure functions over
records and notifications; `fengqiao.retention` finds the disputes and writes the results.

What is removed is what identifies a party: names, phone numbers, ID numbers, email
addresses, the street address and the free-text summary. Wherever one of these appears in
other text (a decision's reason, a timeline entry, a notification), it is replaced there
too. What statistics need stays: category, place down to the grid, amount, route, the
ladder climbed, dates and the satisfaction score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import (
    Dispute,
    DisputeRecord,
    Notification,
    Party,
    TimelineEntry,
)

# The kind of timeline entry that marks a record as anonymised. No caller can record an
# entry of this kind (`lifecycle.EVENTS` does not have it), so none can fake the mark.
ANONYMISED: Final = EventKind.ANONYMISED
REMOVED: Final = "（已脱敏）"
_HIDDEN: Final = "***"


def party_alias(index: int) -> str:
    return f"当事人{index + 1}"


def is_anonymised(record: DisputeRecord) -> bool:
    return anonymised_at(record) is not None


def anonymised_at(record: DisputeRecord) -> datetime | None:
    return next((e.at for e in record.timeline if e.kind == ANONYMISED), None)


def is_due(record: DisputeRecord, now: datetime, keep: timedelta) -> bool:
    """Closed for longer than `keep`, and not anonymised yet."""
    closed = record.closed_at
    return (
        record.status.closed
        and closed is not None
        and closed + keep <= now
        and not is_anonymised(record)
    )


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Replaces a dispute's identifying strings wherever they appear in text."""

    replacements: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, dispute: Dispute) -> Scrubber:
        pairs: dict[str, str] = {}
        if dispute.summary.strip():
            pairs[dispute.summary] = REMOVED
        if dispute.location.address.strip():
            pairs[dispute.location.address] = _HIDDEN
        for i, party in enumerate(dispute.parties):
            masked = mask_phone(party.phone) if len(party.phone) >= 8 else ""
            for secret in (party.phone, masked, party.id_number, party.email):
                if secret.strip():
                    pairs[secret] = _HIDDEN
            if party.name.strip():
                pairs[party.name] = party_alias(i)
        # Longest first, so a name inside a longer secret is not replaced half way.
        return cls(tuple(sorted(pairs.items(), key=lambda kv: -len(kv[0]))))

    def __call__(self, text: str) -> str:
        for secret, replacement in self.replacements:
            text = text.replace(secret, replacement)
        return text


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`: how notifications show a phone number."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def anonymise_record(
    record: DisputeRecord, now: datetime, scrub: Scrubber, *, note: str
) -> DisputeRecord:
    """`record` without what identifies its parties, with a timeline entry saying so."""
    d = record.dispute
    dispute = replace(
        d,
        summary=REMOVED,
        parties=tuple(Party(name=party_alias(i), role=p.role) for i, p in enumerate(d.parties)),
        location=replace(d.location, address="") if d.location.address else d.location,
    )
    decision = record.decision
    if decision is not None:
        decision = replace(decision, reason=scrub(decision.reason))
    timeline = tuple(
        replace(e, summary=scrub(e.summary), actor=scrub(e.actor)) for e in record.timeline
    )
    marker = TimelineEntry(at=now, kind=ANONYMISED, summary=note, event_id=ANONYMISED)
    return replace(record, dispute=dispute, decision=decision, timeline=(*timeline, marker))


def anonymise_notification(notification: Notification, scrub: Scrubber) -> Notification:
    n = notification
    return replace(
        n,
        message=scrub(n.message),
        recipient_label=scrub(n.recipient_label),
        acknowledged_by=scrub(n.acknowledged_by),
        address=scrub(n.address),
        anonymised=True,
    )


__all__ = [
    "ANONYMISED",
    "REMOVED",
    "Scrubber",
    "anonymise_notification",
    "anonymise_record",
    "anonymised_at",
    "is_anonymised",
    "is_due",
    "mask_phone",
    "party_alias",
]
