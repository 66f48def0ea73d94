"""What people are told, in Chinese. Phone numbers of parties are shown masked to
everyone but the party concerned. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime

from fengqiao.domain.anonymise import mask_phone
from fengqiao.domain.model import Decision, Dispute, Route
from fengqiao.domain.vocabulary import CATEGORIES, PARTY_ROLES, ROUTE_LABELS, label
from fengqiao.notification.recipients import Recipient
from fengqiao.policy.deadlines import CHINA

# 人民调解法 第三十三条：经人民调解委员会调解达成调解协议后，双方当事人认为有必要的，
# 可以自调解协议生效之日起三十日内共同向人民法院申请司法确认。
CONFIRMATION_DAYS = 30


def _when(at: datetime) -> str:
    return f"{at.astimezone(CHINA):%Y年%m月%d日 %H:%M}"


def _people(dispute: Dispute) -> str:
    return "；".join(
        f"{label(PARTY_ROLES, p.role)}{p.name} {mask_phone(p.phone) if p.phone else '无电话'}"
        for p in dispute.parties
    )


def assignment_message(
    dispute: Dispute, decision: Decision, recipient: Recipient, escalated_from: Route | None
) -> str:
    """A dispute routed to, or escalated to, `decision`'s rung."""
    urgent = "【紧急】" if decision.priority.value == "urgent" else ""
    category = label(CATEGORIES, dispute.category)
    deadline = _when(decision.deadline)
    if recipient.party_index is not None:
        party = dispute.parties[recipient.party_index]
        # Only the applicant reported it; the respondent and others are told it concerns them.
        if party.role == "applicant":
            verb = "已移交" if escalated_from else "已受理，由"
            what = f"您反映的{category}纠纷（编号 {dispute.id}）{verb}"
        else:
            verb = "已移交" if escalated_from else "已由"
            role = label(PARTY_ROLES, party.role)
            what = f"有一件与您有关的{category}纠纷（编号 {dispute.id}，您为{role}）{verb}"
        return (
            f"{urgent}{party.name}您好：{what}{decision.route_label}负责处理，"
            f"将于{deadline}前与您联系调处。"
        )
    handler = f"，牵头：{decision.handler_label}" if decision.handler_label else ""
    head = (
        f"【升级】纠纷 {dispute.id} 由{ROUTE_LABELS[escalated_from]}升级"
        if escalated_from
        else f"新分派纠纷 {dispute.id}"
    )
    return (
        f"{urgent}{head}：{category}，{dispute.location.path()}。"
        f"去向：{decision.route_label}{handler}，办理时限 {deadline}。"
        f"理由：{decision.reason} 当事人：{_people(dispute)}。"
    )


def agreement_message(dispute: Dispute, recipient: Recipient) -> str:
    """To each party after a mediation agreement: the judicial confirmation window."""
    name = dispute.parties[recipient.party_index].name if recipient.party_index is not None else ""
    return (
        f"{name}您好：您的纠纷（编号 {dispute.id}）已达成调解协议。双方当事人认为有必要的，"
        f"可以自调解协议生效之日起{CONFIRMATION_DAYS}日内共同向人民法院申请司法确认"
        "（《中华人民共和国人民调解法》第三十三条），确认后可申请强制执行。"
    )


def follow_up_message(dispute: Dispute, closed_at: datetime | None) -> str:
    """To the grid worker and the mediation room: the follow-up visit is due."""
    closed = _when(closed_at) if closed_at else "此前"
    return (
        f"回访提醒：纠纷 {dispute.id}（{label(CATEGORIES, dispute.category)}，"
        f"{dispute.location.path()}）已于{closed}办结，请开展回访，了解协议履行情况并记录满意度"
        f"（1–5 分）。当事人：{_people(dispute)}。"
    )


def deadline_near_message(dispute: Dispute, decision: Decision) -> str:
    """To the current rung's people: the step's deadline is close (限期调处)."""
    return (
        f"【临期提醒】纠纷 {dispute.id}（{label(CATEGORIES, dispute.category)}，"
        f"{dispute.location.path()}）由{decision.route_label}办理，期限将于{_when(decision.deadline)}"
        "届满，逾期将按规定逐级上报，请抓紧调处。"
    )
