"""The life of a dispute: which reported events make sense in which status, and what each
one changes. Pure: records in, records out; triage and intake do the I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import Final

from fengqiao.domain.anonymise import is_anonymised
from fengqiao.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, quoted
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import (
    CaseEvent,
    Decision,
    DisputeRecord,
    PolicyContext,
    Status,
    StepContext,
    TimelineEntry,
)
from fengqiao.domain.vocabulary import RISK_FLAGS, TRIGGERS, label

EVENTS: Final = MappingProxyType(
    {
        EventKind.ACCEPTED.value: "受理",
        EventKind.MEDIATION_STARTED.value: "开始调解",
        EventKind.MEDIATION_FAILED.value: "调解不成",
        EventKind.AGREEMENT_REACHED.value: "达成调解协议",
        EventKind.RESOLVED.value: "化解办结",
        EventKind.WITHDRAWN.value: "申请人撤回",
        EventKind.INFO_INCOMPLETE.value: "信息有误或缺失，重新收集",
        EventKind.RISK_RAISED.value: "出现风险苗头",
        EventKind.FOLLOW_UP_DONE.value: "完成回访",
        EventKind.NOTE.value: "备注",
        EventKind.ESCALATION_REQUESTED.value: "申请上报",
        EventKind.REPEAT_COMPLAINT.value: "重复投诉",
    }
)
STATUS_LABELS: Final = MappingProxyType(
    {
        Status.RECEIVED: "已受理待分派",
        Status.ROUTED: "已分派待受理",
        Status.ACCEPTED: "调查了解中",
        Status.IN_MEDIATION: "调解中",
        Status.INFO_INCOMPLETE: "信息待补充",
        Status.AGREED: "达成协议已办结",
        Status.RESOLVED: "已化解办结",
        Status.WITHDRAWN: "已撤回",
    }
)
# Events after which the policy's escalation rules decide the next rung.
ESCALATING: Final = frozenset(
    {
        EventKind.MEDIATION_FAILED,
        EventKind.RISK_RAISED,
        EventKind.ESCALATION_REQUESTED,
        EventKind.REPEAT_COMPLAINT,
    }
)
CLOSING: Final = frozenset({EventKind.AGREEMENT_REACHED, EventKind.RESOLVED, EventKind.WITHDRAWN})

_WORKING = frozenset({Status.ROUTED, Status.ACCEPTED, Status.IN_MEDIATION, Status.INFO_INCOMPLETE})
_ALL = frozenset(Status)
# kind → (statuses it may be recorded in, status it leads to; None keeps the status)
_MOVES: Final[dict[str, tuple[frozenset[Status], Status | None]]] = {
    EventKind.ACCEPTED: (frozenset({Status.ROUTED, Status.INFO_INCOMPLETE}), Status.ACCEPTED),
    EventKind.MEDIATION_STARTED: (
        frozenset({Status.ACCEPTED, Status.INFO_INCOMPLETE}),
        Status.IN_MEDIATION,
    ),
    EventKind.MEDIATION_FAILED: (frozenset({Status.IN_MEDIATION}), None),
    EventKind.AGREEMENT_REACHED: (frozenset({Status.IN_MEDIATION}), Status.AGREED),
    EventKind.RESOLVED: (_WORKING - {Status.ROUTED}, Status.RESOLVED),
    EventKind.WITHDRAWN: (_WORKING | {Status.RECEIVED}, Status.WITHDRAWN),
    EventKind.INFO_INCOMPLETE: (_WORKING - {Status.INFO_INCOMPLETE}, Status.INFO_INCOMPLETE),
    EventKind.RISK_RAISED: (_WORKING, None),
    EventKind.ESCALATION_REQUESTED: (_WORKING, None),
    EventKind.REPEAT_COMPLAINT: (_WORKING, None),
    EventKind.FOLLOW_UP_DONE: (frozenset({Status.AGREED, Status.RESOLVED}), None),
    EventKind.NOTE: (_ALL, None),
}
_NEEDS_REASON = frozenset(
    {
        EventKind.MEDIATION_FAILED,
        EventKind.NOTE,
        EventKind.ESCALATION_REQUESTED,
        EventKind.WITHDRAWN,
    }
)
MAX_REASON = 2000


def validate_event(event: CaseEvent) -> None:
    """Raise `InvalidArgument` naming every field of `event` that is wrong."""
    out: list[FieldViolation] = []

    def bad(field: str, zh: str, en: str) -> None:
        out.append(FieldViolation(field, f"{zh}（{en}）"))

    if event.kind not in EVENTS:
        bad("event.kind", f"未知的事件 {quoted(event.kind)}", f"use one of: {', '.join(EVENTS)}")
    elif event.kind in _NEEDS_REASON and not event.reason.strip():
        bad("event.reason", f"“{EVENTS[event.kind]}”须说明过程和原因",
            f"reason is required for {event.kind}")  # fmt: skip
    if len(event.reason) > MAX_REASON:
        bad("event.reason", f"说明超过 {MAX_REASON} 字", "reason is too long")
    if event.kind == EventKind.FOLLOW_UP_DONE and not 1 <= event.satisfaction <= 5:
        bad("event.satisfaction", "满意度应为 1（很不满意）到 5（很满意）",
            "satisfaction must be 1 to 5")  # fmt: skip
    if event.kind == EventKind.RISK_RAISED and not event.risk_flags:
        bad("event.risk_flags", "请指明出现了哪类风险",
            f"give at least one of {', '.join(RISK_FLAGS)}")  # fmt: skip
    for i, flag in enumerate(event.risk_flags):
        if flag not in RISK_FLAGS:
            bad(f"event.risk_flags[{i}]", f"未知的风险标记 {quoted(flag)}",
                f"use one of: {', '.join(RISK_FLAGS)}")  # fmt: skip
    if out:
        raise InvalidArgument(out)


def apply_event(
    record: DisputeRecord, event: CaseEvent, event_id: str, at: datetime
) -> DisputeRecord:
    """`record` after `event`; `FailedPrecondition` (saying why) if it makes no sense now."""
    allowed, to = _MOVES[event.kind]
    if is_anonymised(record):
        raise FailedPrecondition(
            f"纠纷 {record.id} 已超过保存期限并脱敏，不能再记录事件"
            f"（dispute {record.id} is anonymised after its retention period; it takes no events）",
            kind="ANONYMISED",
            subject=f"disputes/{record.id}",
        )
    if record.status not in allowed:
        raise FailedPrecondition(
            _refusal(record, event, allowed), kind="STATUS", subject=f"disputes/{record.id}"
        )
    if event.kind == EventKind.FOLLOW_UP_DONE and record.satisfaction:
        raise FailedPrecondition(
            "该纠纷已完成回访（the follow-up visit is already recorded）",
            kind="FOLLOWED_UP",
            subject=f"disputes/{record.id}",
        )
    entry = TimelineEntry(at=at, kind=event.kind, summary=_summary(event), event_id=event_id,
                          actor=event.actor, route=record.level)  # fmt: skip
    changed = replace(record, timeline=(*record.timeline, entry), status=to or record.status)
    if event.kind == EventKind.ACCEPTED:
        late = record.response_due is not None and at > record.response_due
        changed = replace(changed, accepted_at=at, accepted_late=record.accepted_late or late)
    if to is not None and to.closed:
        changed = replace(changed, closed_at=at)
    if event.kind == EventKind.FOLLOW_UP_DONE:
        changed = replace(changed, satisfaction=event.satisfaction)
    if event.kind == EventKind.RISK_RAISED:
        flags = tuple(dict.fromkeys((*record.dispute.risk_flags, *event.risk_flags)))
        changed = replace(changed, dispute=replace(record.dispute, risk_flags=flags))
    return changed


def _summary(event: CaseEvent) -> str:
    summary = EVENTS[event.kind] + (f"：{event.reason}" if event.reason else "")
    if event.kind == EventKind.FOLLOW_UP_DONE:
        summary += f"（满意度 {event.satisfaction}/5）"
    return summary


def records_event(entry: TimelineEntry, event: CaseEvent) -> bool:
    """Whether `entry` is what recording `event` wrote: a retry of the same event rather
    than another event reusing its id."""
    return (entry.kind, entry.summary, entry.actor) == (event.kind, _summary(event), event.actor)


def _refusal(record: DisputeRecord, event: CaseEvent, allowed: frozenset[Status]) -> str:
    now = STATUS_LABELS[record.status]
    ok = "、".join(STATUS_LABELS[s] for s in Status if s in allowed)
    return (
        f"纠纷 {record.id} 当前为“{now}”，不能记录“{EVENTS[event.kind]}”；只有在{ok}时才可以"
        f"（{event.kind} is not possible while the dispute is {record.status.value}; "
        f"it is allowed when {', '.join(s.value for s in Status if s in allowed)}）"
    )


POLICY_CHANGED: Final = EventKind.POLICY_CHANGED


def assign(
    record: DisputeRecord,
    decision: Decision,
    *,
    trigger: str,
    event_id: str,
    response_due: datetime,
    context: PolicyContext | None = None,
    actor: str = "triage",
) -> DisputeRecord:
    """`record` handed to the rung `decision` names: routed (first time) or escalated.
    `context` is what the policy read besides the dispute; it is kept on the step. When the
    step before was decided under another policy version, a `policy_changed` entry says
    so first: the step just ended kept its own version, this one takes the active one."""
    first = record.decision is None
    verb = "分派至" if first else "升级至"
    why = "" if first else f"{label(TRIGGERS, trigger)}，"
    context = context or PolicyContext()
    entries: list[TimelineEntry] = []
    previous = record.decision.policy_version if record.decision is not None else ""
    if previous and previous != decision.policy_version:
        entries.append(
            TimelineEntry(
                at=decision.decided_at,
                kind=POLICY_CHANGED,
                summary=f"分流政策已更新：第 {record.step} 步按版本 {previous[:12]} 决定，"
                f"第 {record.step + 1} 步起按版本 {decision.policy_version[:12]} 决定",
                policy_version=decision.policy_version,
                event_id=f"{event_id}-policy",
                actor=actor,
            )
        )
    entries.append(
        TimelineEntry(
            at=decision.decided_at,
            kind=EventKind.ROUTED if first else EventKind.ESCALATED,
            summary=f"{why}{verb}{decision.route_label}（规则 {decision.rule_id}）："
            f"{decision.reason}",
            rule_id=decision.rule_id,
            route=decision.route,
            policy_version=decision.policy_version,
            event_id=event_id,
            from_route=record.level,
            trigger=trigger,
            actor=actor,
            context=StepContext(
                similar_recent=context.similar_recent,
                party_recent=context.party_recent,
                times_escalated=context.times_escalated,
                risk_flags=record.dispute.risk_flags,
            ),
        )
    )
    return replace(
        record,
        status=Status.ROUTED,
        decision=decision,
        step=record.step + 1,
        response_due=response_due,
        accepted_at=None,
        timeline=(*record.timeline, *entries),
    )
