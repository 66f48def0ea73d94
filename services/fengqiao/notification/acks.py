"""Acknowledgements (第一时间响应): who is told when a recipient does not confirm, and what
they are told. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum
from typing import Final

from fengqiao.domain.model import Dispute, Notification
from fengqiao.domain.vocabulary import CATEGORIES, label

# Not acknowledged after a reminder: the recipient's next level up is told (督办).
SUPERVISOR: Final = {
    "grid_worker": "community_mediation_room",
    "community_mediation_room": "street_governance_centre",
    "labour_dispute_room": "street_governance_centre",
    "family_mediation_room": "street_governance_centre",
    "lawyer_mediation_room": "street_governance_centre",
    "street_governance_centre": "street_leader",
    "police_station": "street_leader",
    "court_mediation_centre": "street_leader",
}


class AckStage(IntEnum):
    """Which time an assignment's acknowledgement timer fires, and so what it does. One
    timer per assignment (`disputes.timer.ack.<dispute>.<event>`) waits for all of its
    notifications that need an acknowledgement; the stage travels in the timer's
    `DisputeEvent.step` (for every other timer the dispute's step) and in its event id
    (`ack_due-<stage>-<key>`). The values are on the wire: never change one."""

    REMIND = 1  # the first time: remind those who have not confirmed (催办)
    ESCALATE = 2  # the second: tell each one's level up (督办)


# The kind (`Notification.event`) of what each stage sends.
REMINDER: Final = "ack_reminder"
OVERDUE: Final = "ack_overdue"
# If the decision gave no response time, wait this long before reminding.
DEFAULT_WAIT: Final = timedelta(hours=1)


# `<dispute>.<event>.<recipient hash>`: what `notification_key` makes (and a KV key can be).
NOTIFICATION_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,200}\.[0-9a-f]{20}")


def parts_of(key: str) -> tuple[str, str, str]:
    """`<dispute>.<event>.<recipient hash>` — the notification key's three parts."""
    dispute_id, event_id, digest = key.split(".")
    return dispute_id, event_id, digest


def reminder_message(dispute: Dispute, original: Notification) -> str:
    category = label(CATEGORIES, dispute.category)
    return (
        f"【催办】{original.recipient_label}：纠纷 {dispute.id}（{category}）"
        "分派后尚未确认接收，请尽快确认并与当事人联系。"
    )


def supervisor_message(dispute: Dispute, unconfirmed: Sequence[Notification]) -> str:
    """To the level up of every recipient in `unconfirmed` (one assignment's)."""
    who = "、".join(n.recipient_label for n in unconfirmed)
    return (
        f"【督办】{who}经催办仍未确认接收纠纷 {dispute.id}"
        f"（{label(CATEGORIES, dispute.category)}，{dispute.location.path()}），请督促落实。"
    )
