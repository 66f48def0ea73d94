"""Who a role means for one dispute. Pure: no I/O.

Institutions are addressed by role and the part of the location they serve
(`street_governance_centre@甘州区/东街街道`); each party by the dispute and their position.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fengqiao.domain.model import Decision, Dispute
from fengqiao.domain.vocabulary import PARTY_ROLES, RECIPIENT_ROLES, label

# How many parts of district/street/community/grid each institution serves.
SCOPE = {
    "grid_worker": 4,
    "community_mediation_room": 3,
    "street_governance_centre": 2,
    "police_station": 2,
    "labour_dispute_room": 2,
    "family_mediation_room": 2,
    "lawyer_mediation_room": 2,
    "court_mediation_centre": 1,
    "street_leader": 2,
}
PARTY = "party"


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    role: str
    label: str
    # For parties: email when they gave one, else sms to their phone (looked up in the
    # dispute at delivery, so no notification holds it); institutions' channels come from
    # the directory.
    channel: str
    party_index: int | None = None
    address: str = ""


def recipients(dispute: Dispute, decision: Decision) -> list[Recipient]:
    """Everyone to tell of `decision`, each once, in the policy's order."""
    return recipients_for_roles(dispute, decision.notify)


def recipients_for_roles(dispute: Dispute, roles: tuple[str, ...]) -> list[Recipient]:
    """Everyone `roles` means for `dispute`, each once, in order."""
    parts = (
        dispute.location.district,
        dispute.location.street,
        dispute.location.community,
        dispute.location.grid,
    )
    out: list[Recipient] = []
    for role in roles:
        if role == PARTY:
            out.extend(
                Recipient(
                    id=party_id(dispute.id, i),
                    role=PARTY,
                    label=f"{label(PARTY_ROLES, p.role)}{p.name}",
                    channel="email" if p.email else ("sms" if p.phone else "log"),
                    party_index=i,
                    address=p.email,
                )
                for i, p in enumerate(dispute.parties)
            )
        else:
            place = "/".join(parts[: SCOPE.get(role, 2)])
            out.append(
                Recipient(
                    id=f"{role}@{place}",
                    role=role,
                    label=f"{place}{label(RECIPIENT_ROLES, role)}",
                    channel="log",
                )
            )
    return list({r.id: r for r in out}.values())


def recipient_digest(recipient_id: str) -> str:
    """A recipient id as one subject token (ids hold '/', '@' and Chinese)."""
    return hashlib.sha256(recipient_id.encode("utf-8")).hexdigest()[:20]


def party_id(dispute_id: str, index: int) -> str:
    return f"party@{dispute_id}/{index}"


def party_index(recipient_id: str) -> int | None:
    """The party's position in its dispute, from an id made by `party_id`."""
    if not recipient_id.startswith(f"{PARTY}@"):
        return None
    _, _, index = recipient_id.rpartition("/")
    return int(index) if index.isdigit() else None


def parties(dispute: Dispute) -> list[Recipient]:
    """Every party of `dispute` as a recipient."""
    return recipients_for_roles(dispute, (PARTY,))
