"""The draft replayed on a period of real history (`fengqiao rules replay`): the decisions
by route before → after, and every dispute that would change, each linked to its page."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fengqiao.console.auth import requires
from fengqiao.console.context import Console, console_of, render
from fengqiao.console.history import History
from fengqiao.console.playground.common import (
    posted_draft,
    route_words,
    text_field,
    today,
)
from fengqiao.domain.errors import DatabaseError
from fengqiao.domain.vocabulary import CATEGORIES, TRIGGERS, label
from fengqiao.platform.policies import Activation, PolicyStore, PublishedVersion
from fengqiao.policy import CompiledPolicy, PolicyError, parse_policy
from fengqiao.policy.replay import ROUTING, ReplayReport
from fengqiao.publishing import Draft, replay_history

# The period a page proposes, ending today.
DEFAULT_DAYS: Final = 30
# Changed disputes listed at most; the counts cover them all.
MAX_LISTED: Final = 1000
_KINDS: Final = {ROUTING: "分流", "escalation": "升级"}


@dataclass(frozen=True, slots=True)
class Period:
    first: date | None
    last: date | None
    street: str


def default_period() -> tuple[date, date]:
    end = today()
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def _day(body: dict[str, Any], name: str) -> date | None:
    raw = text_field(body, name).strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"日期应写作 YYYY-MM-DD：{raw!r}") from None


def _totals(counts: Counter[tuple[str, str, str, str]]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for (_, _, kind, route), n in counts.items():
        out[(kind, route)] += n
    return out


def report_values(report: ReplayReport, draft: CompiledPolicy) -> dict[str, Any]:
    """What `_pg_replay.html` shows of a replay."""
    policy = draft.policy
    before, after = _totals(report.before), _totals(report.after)
    totals = [
        (_KINDS[kind], route_words(policy, route), before[(kind, route)], after[(kind, route)])
        for kind, route in sorted(set(before) | set(after))
    ]
    keys = sorted(set(report.before) | set(report.after))
    detail = [
        (label(CATEGORIES, c), s, _KINDS[k], route_words(policy, r),
         report.before[(c, s, k, r)], report.after[(c, s, k, r)])
        for c, s, k, r in keys
        if report.before[(c, s, k, r)] != report.after[(c, s, k, r)]
    ]  # fmt: skip
    return {
        "report": report,
        "totals": totals,
        "detail": detail,
        "changed": report.changed[:MAX_LISTED],
        "changed_steps": sum(len(c.steps) for c in report.changed),
        "categories": CATEGORIES,
        "triggers": TRIGGERS,
        "label": label,
    }


def replay_draft(
    history: History,
    draft: Draft,
    published: list[PublishedVersion],
    active: Activation | None,
    period: Period,
) -> dict[str, Any]:
    try:
        policy = parse_policy(draft.data, draft.source)
    except PolicyError as exc:
        return {"problems": exc.problems}
    try:
        engine = history.engine()
    except DatabaseError as exc:
        return {"message": f"无法读取历史纠纷：{exc}"}
    compiled = CompiledPolicy(policy)
    try:
        report = replay_history(engine, published, active, compiled, first=period.first,
                                last=period.last, street=period.street)  # fmt: skip
    finally:
        compiled.close()
    return report_values(report, compiled)


async def _versions(console: Console) -> tuple[list[PublishedVersion], Activation | None]:
    store = PolicyStore(console.bus.policies)
    published, active = await asyncio.gather(store.versions(console.bus.js), store.active())
    return published, active


@requires()
async def replay(request: Request) -> Response:
    console = console_of(request)
    body, draft = await posted_draft(request)
    try:
        period = Period(_day(body, "from"), _day(body, "to"), text_field(body, "street").strip())
    except ValueError as exc:
        return render(request, "_pg_replay.html", {"message": str(exc)}, 400)
    if period.first and period.last and period.first > period.last:
        return render(request, "_pg_replay.html", {"message": "开始日期应不晚于结束日期"}, 400)
    published, active = await _versions(console)
    values = await asyncio.to_thread(
        replay_draft, console.history, draft, published, active, period
    )
    return render(request, "_pg_replay.html", {"period": period, **values})


ROUTES = [Route("/playground/replay", replay, methods=["POST"])]
