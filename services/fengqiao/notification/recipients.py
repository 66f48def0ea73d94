"""Who a role means for one dispute, and what they are told. Pure: no I/O.

Institutions are addressed by role and the part of the location they serve
(`street_governance_centre@甘州区/东街街道`); each party by the dispute and their position.
"""

from __future__ import annotations

from dataclasses import dataclass

from fengqiao.domain.model import Decision, Dispute
from fengqiao.domain.vocabulary import CATEGORIES, PARTY_ROLES, RECIPIENT_ROLES, label
from fengqiao.policy.deadlines import CHINA

# How many parts of district/street/community/grid each institution serves.
_SCOPE = {
    "grid_worker": 4,
    "community_mediation_room": 3,
    "street_governance_centre": 2,
    "police_station": 2,
    "labour_dispute_room": 2,
    "family_mediation_room": 2,
    "lawyer_mediation_room": 2,
    "court_mediation_centre": 1,
}
PARTY = "party"


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    role: str
    label: str
    # `log` until the notification channels are wired; parties with a phone get `sms`.
    channel: str
    party_index: int | None = None


def recipients(dispute: Dispute, decision: Decision) -> list[Recipient]:
    """Everyone to tell of `decision`, each once, in the policy's order."""
    parts = (
        dispute.location.district,
        dispute.location.street,
        dispute.location.community,
        dispute.location.grid,
    )
    out: list[Recipient] = []
    for role in decision.notify:
        if role == PARTY:
            out.extend(
                Recipient(
                    id=f"party@{dispute.id}/{i}",
                    role=PARTY,
                    label=f"{label(PARTY_ROLES, p.role)}{p.name}",
                    channel="sms" if p.phone else "log",
                    party_index=i,
                )
                for i, p in enumerate(dispute.parties)
            )
        else:
            place = "/".join(parts[: _SCOPE.get(role, 2)])
            out.append(
                Recipient(
                    id=f"{role}@{place}",
                    role=role,
                    label=f"{place}{label(RECIPIENT_ROLES, role)}",
                    channel="log",
                )
            )
    return list({r.id: r for r in out}.values())


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def routed_message(dispute: Dispute, decision: Decision, recipient: Recipient) -> str:
    """The Chinese text telling `recipient` of a routing decision. Phone numbers of parties
    are shown masked to everyone but the party concerned."""
    deadline = f"{decision.deadline.astimezone(CHINA):%Y年%m月%d日 %H:%M}"
    urgent = "【紧急】" if decision.priority.value == "urgent" else ""
    category = label(CATEGORIES, dispute.category)
    if recipient.party_index is not None:
        party = dispute.parties[recipient.party_index]
        return (
            f"{urgent}{party.name}您好：您反映的{category}纠纷（编号 {dispute.id}）已受理，"
            f"由{decision.route_label}负责处理，将于{deadline}前与您联系调处。"
        )
    people = "；".join(
        f"{label(PARTY_ROLES, p.role)}{p.name} {mask_phone(p.phone) if p.phone else '无电话'}"
        for p in dispute.parties
    )
    handler = f"，牵头：{decision.handler_label}" if decision.handler_label else ""
    return (
        f"{urgent}新分派纠纷 {dispute.id}：{category}，{dispute.location.path()}。"
        f"去向：{decision.route_label}{handler}，办理时限 {deadline}。"
        f"理由：{decision.reason} 当事人：{people}。"
    )
