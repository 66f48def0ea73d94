"""What people read on the console's pages: Chinese labels for codes, times in China's
time zone, and a dispute as one row of the board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fengqiao.domain.kinds import EventKind
from fengqiao.domain.lifecycle import EVENTS, STATUS_LABELS
from fengqiao.domain.model import (
    Colour,
    Delivery,
    DisputeRecord,
    Notification,
    Priority,
    local_minute,
)
from fengqiao.domain.vocabulary import CATEGORIES, CHANNELS, RECIPIENT_ROLES, ROUTE_LABELS, label

# 四色动态管理, as the governance centre uses the colours here.
COLOURS: Final = {
    Colour.GREEN: ("绿", "待研判", "信息需进一步调查分析：已受理、已分派或调查了解中"),
    Colour.BLUE: ("蓝", "调处中", "诉求清楚，正在调解"),
    Colour.PURPLE: ("紫", "待补充", "信息有误或缺失，正在重新收集"),
    Colour.RED: ("红", "已办结", "达成协议、化解办结或撤回"),
}

KINDS: Final = {
    **EVENTS,
    EventKind.SUBMITTED.value: "提交",
    EventKind.RECEIVED.value: "受理登记",
    EventKind.ROUTED.value: "分流",
    EventKind.ESCALATED.value: "升级",
    EventKind.DEADLINE_EXPIRED.value: "办理期限届满",
    EventKind.RESPONSE_EXPIRED.value: "未在时限内受理",
    EventKind.DEADLINE_NEAR.value: "临近期限提醒",
    EventKind.FOLLOW_UP_DUE.value: "到期回访",
    EventKind.ACK_DUE.value: "签收提醒",
    EventKind.NOTIFIED.value: "通知",
    EventKind.ACKNOWLEDGED.value: "签收",
    EventKind.POLICY_CHANGED.value: "政策版本变更",
    EventKind.ANONYMISED.value: "脱敏",
}

DELIVERIES: Final = {
    Delivery.RECORDED: "已记录，待发送",
    Delivery.SENT: "已发送",
    Delivery.LOGGED_ONLY: "仅写入日志",
    Delivery.DEAD_LETTERED: "发送失败（死信）",
    Delivery.UNROUTABLE: "通讯录无此接收人",
}


def when(at: datetime | None) -> str:
    return "—" if at is None else local_minute(at)


def late_by(deadline: datetime, now: datetime) -> str:
    """`逾期 2 天 3 小时` / `剩 5 小时`: how far a deadline is from now, to the hour."""
    hours = int(abs((now - deadline).total_seconds()) // 3600)
    days, hours = divmod(hours, 24)
    span = f"{days} 天 {hours} 小时" if days else f"{hours} 小时"
    return f"逾期 {span}" if deadline < now else f"剩 {span}"


@dataclass(frozen=True, slots=True)
class Row:
    """A dispute as the board's table and the live feed show it."""

    id: str
    received: str
    street: str
    community: str
    category: str
    category_label: str
    status_label: str
    colour: str
    colour_label: str
    route: str
    route_label: str
    handler_label: str
    rule_id: str
    step: int
    deadline: str
    # `逾期 2 天 3 小时` / `剩 5 小时`; empty when closed or not decided.
    due_in: str
    overdue: bool
    urgent: bool
    summary: str

    @classmethod
    def of(cls, r: DisputeRecord, now: datetime) -> Row:
        d, decision = r.dispute, r.decision
        colour = r.status.colour
        return cls(
            id=r.id,
            received=when(d.received_at),
            street=d.location.street,
            community=d.location.community,
            category=d.category,
            category_label=label(CATEGORIES, d.category),
            status_label=STATUS_LABELS[r.status],
            colour=colour.value,
            colour_label=COLOURS[colour][1],
            route=decision.route.value if decision else "",
            route_label=ROUTE_LABELS[decision.route] if decision else "待分流",
            handler_label=decision.handler_label if decision else "",
            rule_id=decision.rule_id if decision else "",
            step=r.step,
            deadline=when(decision.deadline) if decision else "—",
            due_in=late_by(decision.deadline, now) if decision and not r.status.closed else "",
            overdue=r.overdue(now),
            urgent=decision is not None and decision.priority is Priority.URGENT,
            # The summary only: names, phones and addresses stay off the board.
            summary=d.summary[:60],
        )

    def as_event(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def recipient(n: Notification) -> str:
    return n.recipient_label or label(RECIPIENT_ROLES, n.recipient_role)


def channel(code: str) -> str:
    return label(CHANNELS, code)
