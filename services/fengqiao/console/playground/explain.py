"""Why the draft decides one dispute as it does: every rule in order, each condition met or
not in words, the deciding rule marked (`decided`) and those after it, never compared,
dimmed (`skipped`), as `rules explain` prints it. The dispute is a sample, a pasted
submission, or a stored dispute's step (decided again with the context it had)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fengqiao.console.auth import requires
from fengqiao.console.context import Console, console_of, render
from fengqiao.console.labels import when
from fengqiao.console.playground.common import (
    PRIORITIES,
    posted_draft,
    roles_words,
    route_words,
    samples_dir,
    text_field,
)
from fengqiao.domain.errors import FieldViolation, InvalidArgument, NotFound, SampleError
from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.domain.model import Route as Level
from fengqiao.domain.validation import validate_dispute
from fengqiao.domain.vocabulary import SUBMITTED, TRIGGERS, label
from fengqiao.platform.convert import dispute_from_proto, record_from_proto
from fengqiao.policy import CompiledPolicy, Policy, PolicyError, parse_policy
from fengqiao.policy.history import steps_of
from fengqiao.samples import parse_submission, read_submission, sample_files
from fengqiao.v1 import intake_pb2


def _refused(message: str) -> InvalidArgument:
    """What keeps the dispute asked for from being explained, in words."""
    return InvalidArgument([FieldViolation("dispute", message)])


@dataclass(frozen=True, slots=True)
class Subject:
    """The dispute to explain, the situation it is decided in, and what was recorded."""

    dispute: Dispute
    context: PolicyContext
    trigger: str
    at: datetime
    heading: str
    recorded: str = ""


@dataclass(frozen=True, slots=True)
class ConditionRow:
    text: str
    actual: str
    met: bool | None  # None: not compared (the rule was skipped)


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: str
    title: str
    line: int
    state: str  # "missed", "decided" or "skipped"
    conditions: tuple[ConditionRow, ...]


def _count(body: dict[str, Any], name: str) -> int:
    raw = body.get(name, 0)
    try:
        value = int(raw or 0)
    except (TypeError, ValueError):
        raise _refused(f"{name} 应为非负整数") from None
    if value < 0:
        raise _refused(f"{name} 应为非负整数")
    return value


def _situation(body: dict[str, Any]) -> tuple[PolicyContext, str]:
    """The context and trigger the page gives for a sample or a pasted dispute."""
    trigger = text_field(body, "trigger", SUBMITTED) or SUBMITTED
    if trigger not in TRIGGERS:
        raise _refused(f"未知的触发事件 {trigger!r}")
    level = text_field(body, "level", "new") or "new"
    if level != "new" and level not in Level._value2member_map_:
        raise _refused(f"未知的层级 {level!r}")
    context = PolicyContext(
        current_level=None if level == "new" else Level(level),
        times_escalated=_count(body, "times_escalated"),
        similar_recent=_count(body, "similar_recent"),
        party_recent=_count(body, "party_recent"),
    )
    return context, trigger


def _submitted(request: intake_pb2.SubmitDisputeRequest, what: str) -> Dispute:
    dispute = dispute_from_proto(request.dispute)
    try:
        validate_dispute(dispute)  # as intake does: no verdict on what it refuses
    except InvalidArgument as exc:
        said = "；".join(f"{v.field}：{v.description}" for v in exc.violations)
        raise _refused(f"{what}受理时会被拒绝，不予分流：{said}") from None
    return dispute


async def _stored(console: Console, dispute_id: str, step_text: str) -> Subject:
    try:
        stored = await console.apis.intake.GetDispute(
            intake_pb2.GetDisputeRequest(dispute_id=dispute_id)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise NotFound(f"没有编号为 {dispute_id} 的纠纷", "dispute", dispute_id) from None
        raise
    steps = steps_of(record_from_proto(stored))
    if not steps:
        raise _refused(f"纠纷 {dispute_id} 尚未分流，没有可解释的决定")
    number = int(step_text) if step_text.strip().isdigit() else len(steps)
    if not 1 <= number <= len(steps):
        raise _refused(f"纠纷 {dispute_id} 只有 {len(steps)} 步")
    step = steps[number - 1]
    what = f"{label(TRIGGERS, step.trigger)}，{when(step.at)}"
    return Subject(
        step.dispute, step.context, step.trigger, step.at,
        f"纠纷 {dispute_id} 第 {step.number} 步（{what}），按当时的情境由草案重新决定",
        f"当时按版本 {step.policy_version[:12]} 记录为规则 {step.rule_id}"
        + ("" if step.exact else "（此步记录于保存决定情境之前，近期同类、同一当事人计数按 0 计）"),
    )  # fmt: skip


async def subject_of(console: Console, body: dict[str, Any]) -> Subject:
    source = text_field(body, "source", "sample")
    now = datetime.now(UTC)
    if source == "stored":
        dispute_id = text_field(body, "dispute_id").strip()
        if not dispute_id:
            raise _refused("请填写纠纷编号")
        return await _stored(console, dispute_id, text_field(body, "step"))
    context, trigger = _situation(body)
    if source == "paste":
        try:
            submission = parse_submission(text_field(body, "submission"), "pasted", "粘贴的内容")
        except SampleError as exc:
            raise _refused(f"无法读取粘贴的纠纷（JSON）：{exc}") from None
        return Subject(_submitted(submission, "粘贴的纠纷"), context, trigger, now, "粘贴的纠纷")
    name = text_field(body, "sample")
    directory = samples_dir(console.settings)
    if name not in {p.name for p in sample_files(directory)}:
        raise NotFound(f"没有样例 {name!r}", "sample", name)
    try:
        submission = read_submission(directory / name)
    except SampleError as exc:
        raise _refused(str(exc)) from None
    return Subject(_submitted(submission, f"样例 {name} "), context, trigger, now, f"样例 {name}")


def _rows(
    policy: Policy, subject: Subject, compiled: CompiledPolicy
) -> tuple[Decision, list[RuleRow], str]:
    decision, traces = compiled.explain(subject.dispute, subject.context, subject.at,
                                        subject.trigger)  # fmt: skip
    engine = compiled.decide(subject.dispute, subject.context, subject.at, subject.trigger)
    rules = policy.rules if subject.trigger == SUBMITTED else policy.escalation
    rows = [
        RuleRow(rule.id, rule.title, rule.line, "decided" if t.matched else "missed",
                tuple(ConditionRow(c.expected, c.actual, c.satisfied) for c in t.conditions))
        for rule, t in zip(rules, traces, strict=False)
    ]  # fmt: skip
    rows += [
        RuleRow(rule.id, rule.title, rule.line, "skipped",
                tuple(ConditionRow(c.describe(), "", None) for c in rule.conditions))
        for rule in rules[len(traces):]
    ]  # fmt: skip
    disagree = "" if engine.rule_id == decision.rule_id else engine.rule_id
    return decision, rows, disagree


def explain_draft(text: bytes, source: str, subject: Subject) -> dict[str, Any]:
    """The values `_pg_explain.html` shows. Compiles the draft for this call only."""
    try:
        policy = parse_policy(text, source)
    except PolicyError as exc:
        return {"problems": exc.problems}
    if subject.trigger != SUBMITTED and not policy.escalation:
        return {"subject": subject, "message": "草案没有升级规则（escalation），此事件不改变去向"}
    compiled = CompiledPolicy(policy)
    try:
        decision, rows, disagree = _rows(policy, subject, compiled)
    finally:
        compiled.close()
    return {
        "subject": subject,
        "rows": rows,
        "decision": decision,
        "route": route_words(policy, decision.route.value),
        "priority": PRIORITIES.get(decision.priority.value, decision.priority.value),
        "notify": roles_words(decision.notify),
        "disagree": disagree,
        "trigger": label(TRIGGERS, subject.trigger),
    }


@requires()
async def explain(request: Request) -> Response:
    console = console_of(request)
    body, draft = await posted_draft(request)
    try:
        subject = await subject_of(console, body)
    except NotFound as exc:
        return render(request, "_pg_explain.html", {"message": str(exc)}, 404)
    except InvalidArgument as exc:
        said = "；".join(v.description for v in exc.violations)
        return render(request, "_pg_explain.html", {"message": said}, 400)
    values = await asyncio.to_thread(explain_draft, draft.data, draft.source, subject)
    return render(request, "_pg_explain.html", values)


ROUTES = [Route("/playground/explain", explain, methods=["POST"])]
