"""The editor's text checked as it is typed (what `rules check --strict` finds, at its line
and column), and the policy's cases run on it (`rules test`), each failure side by side:
what the case expects and what the draft decides, in words."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fengqiao.console.auth import requires
from fengqiao.console.context import render
from fengqiao.console.labels import when
from fengqiao.console.playground.common import (
    PRIORITIES,
    posted_draft,
    roles_words,
    route_words,
    today,
)
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, label
from fengqiao.policy import Policy
from fengqiao.policy.cases import Mismatch
from fengqiao.publishing import Review, review

ASPECTS: Final = {
    "route": "去向",
    "rule": "命中规则",
    "priority": "优先级",
    "handler": "承办",
    "deadline": "办理期限",
    "notify": "通知",
    "reason_contains": "告知理由",
    "evaluators": "两种求值",
}


def markers(reviewed: Review) -> list[dict[str, Any]]:
    """The editor's markers: each problem of the draft at its line and column, each
    warning on its line."""
    out: list[dict[str, Any]] = []
    error = reviewed.error
    if error is not None and error.source == reviewed.draft.source:
        out += [
            {"line": p.line, "column": p.column, "severity": "error", "message": p.zh,
             "detail": p.en}
            for p in error.problems
        ]  # fmt: skip
    if reviewed.checked is not None:
        out += [
            {"line": f.line, "column": 0, "severity": "warning", "message": f.zh,
             "detail": f.en}
            for f in reviewed.checked.warnings
        ]  # fmt: skip
    return out


def notes(reviewed: Review) -> list[str]:
    """What the check says about no line of the draft."""
    out = []
    error = reviewed.error
    if error is not None and error.source != reviewed.draft.source:
        out.append(f"{error.source} 有误，无法使用：{error.format()}")
    checked = reviewed.checked
    if checked is not None and not checked.reach_checked:
        out.append("没有找到通讯录，未检查通知能否送达")
    if checked is not None and checked.calendar_gap is not None:
        gap = checked.calendar_gap
        out.append(
            f"工作日日历尚无 {gap} 年的节假日安排，跨入 {gap} 年的工作日时限按周一至周五计算"
        )
    return out


def summary(reviewed: Review) -> str:
    policy, found = reviewed.policy, markers(reviewed)
    errors = sum(m["severity"] == "error" for m in found)
    warnings = len(found) - errors
    if policy is None:
        return f"有 {errors} 处错误" if errors else "无法检查"
    counts = f"{len(policy.rules)} 条分流规则、{len(policy.escalation)} 条升级规则"
    if warnings:
        return f"可以读取（{counts}），但有 {warnings} 条警告：发布前须处理"
    return f"检查通过：{counts}，版本标签“{policy.label}”"


@requires()
async def check(request: Request) -> Response:
    _, draft = await posted_draft(request)
    reviewed = await asyncio.to_thread(review, draft, today(), cases=False)
    return JSONResponse(
        {
            "ok": reviewed.checked is not None and not reviewed.checked.warnings,
            "summary": summary(reviewed),
            "problems": markers(reviewed),
            "notes": notes(reviewed),
            "version": reviewed.policy.version if reviewed.policy is not None else "",
        }
    )


@dataclass(frozen=True, slots=True)
class Side:
    aspect: str
    expected: str
    actual: str


@dataclass(frozen=True, slots=True)
class Failure:
    name: str
    where: str
    decided: str  # the rule the draft decided with, in words
    sides: tuple[Side, ...]


def _words(policy: Policy, aspect: str, value: str, *, expected: bool) -> str:
    rules = {r.id: r for r in policy.all_rules()}
    if aspect in ("rule", "evaluators"):
        rule = rules.get(value)
        return f"{value}：{rule.title}" if rule is not None else value
    if aspect == "route":
        return route_words(policy, value)
    if aspect == "priority":
        return PRIORITIES.get(value, value)
    if aspect == "handler":
        return f"{label(RECIPIENT_ROLES, value)}（{value}）"
    if aspect == "deadline":
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    if aspect == "notify":
        told = roles_words([r for r in value.split(", ") if r])
        return f"应通知{told}" if expected else f"实际通知：{told}"
    if aspect == "reason_contains" and expected:
        return f"含有“{value}”"
    return value


def _side(policy: Policy, m: Mismatch) -> Side:
    return Side(
        ASPECTS.get(m.aspect, m.aspect),
        _words(policy, m.aspect, m.expected, expected=True),
        _words(policy, m.aspect, m.actual, expected=False),
    )


def failures(reviewed: Review) -> list[Failure]:
    """The failed cases of a review, each mismatch as expected | actual, in words."""
    policy, tested = reviewed.policy, reviewed.tested
    if policy is None or tested is None:
        return []
    return [
        Failure(
            r.case.name,
            f"{Path(r.case.source).name}:{r.case.line}",
            _words(policy, "rule", r.rule_id, expected=False),
            tuple(_side(policy, m) for m in r.failures),
        )
        for r in tested.results
        if not r.passed
    ]


def review_values(reviewed: Review) -> dict[str, Any]:
    """What `_pg_review.html` shows of a review."""
    return {"reviewed": reviewed, "failures": failures(reviewed), "notes": notes(reviewed)}


@requires()
async def run_cases(request: Request) -> Response:
    _, draft = await posted_draft(request)
    reviewed = await asyncio.to_thread(review, draft, today(), strict=False)
    return render(request, "_pg_review.html", review_values(reviewed))


ROUTES = [
    Route("/playground/check", check, methods=["POST"]),
    Route("/playground/test", run_cases, methods=["POST"]),
]
