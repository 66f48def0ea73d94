"""Every kind of fact in a dispute's journey, in one enum: the `kind` of a `DisputeEvent` on
the bus and of an entry in the dispute's timeline. The values are the wire values, stored
in KV and on the streams: never change one.

Who brings each kind:

- the services: `submitted` (intake), `routed` and `escalated` (triage);
- the handlers, through `RecordEvent`: `accepted` … `repeat_complaint` (the keys of
  `lifecycle.EVENTS`, with their Chinese labels);
- the timers (`platform/timers.py`): `deadline_expired`, `response_expired`,
  `deadline_near`, `follow_up_due`, `ack_due`;
- the timeline alone: `received`, `notified`, `acknowledged`, `policy_changed`,
  `anonymised`.

What can move a dispute up the ladder is `vocabulary.TRIGGERS`.

Six kinds are spelled like a status (`model.Status`): `received`, `routed`, `accepted`,
`info_incomplete`, `resolved`, `withdrawn`. A kind is something that happened, a status
where the dispute stands; each of the six is the fact that puts a dispute in the status of
its name (`lifecycle._MOVES` for the handlers' four, intake for `received`, `assign` for
`routed`; `escalated` leads to status `routed` too). Both are `StrEnum`s, so
`EventKind.RESOLVED == Status.RESOLVED` holds: compare a timeline entry's or event's
`kind` with `EventKind` and a record's `status` with `Status`, never one with the other.
`tests/domain/test_kinds.py` pins the six and where each leads."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EventKind(StrEnum):
    SUBMITTED = "submitted"
    ROUTED = "routed"
    ESCALATED = "escalated"

    ACCEPTED = "accepted"
    MEDIATION_STARTED = "mediation_started"
    MEDIATION_FAILED = "mediation_failed"
    AGREEMENT_REACHED = "agreement_reached"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    INFO_INCOMPLETE = "info_incomplete"
    RISK_RAISED = "risk_raised"
    FOLLOW_UP_DONE = "follow_up_done"
    NOTE = "note"
    ESCALATION_REQUESTED = "escalation_requested"
    REPEAT_COMPLAINT = "repeat_complaint"

    DEADLINE_EXPIRED = "deadline_expired"
    RESPONSE_EXPIRED = "response_expired"
    DEADLINE_NEAR = "deadline_near"
    FOLLOW_UP_DUE = "follow_up_due"
    ACK_DUE = "ack_due"

    RECEIVED = "received"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    POLICY_CHANGED = "policy_changed"
    ANONYMISED = "anonymised"


# The decided steps of a dispute: its first route, then each rung up.
DECIDED: Final = frozenset({EventKind.ROUTED, EventKind.ESCALATED})
