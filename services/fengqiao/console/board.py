"""四色看板: the board's page and the fragments the live page reloads; a dispute's
timeline; acknowledging an assignment (签收)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import grpc
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from fengqiao.console.auth import requires, user_of
from fengqiao.console.context import console_of, render
from fengqiao.console.filters import BoardFilter
from fengqiao.console.labels import COLOURS, Row
from fengqiao.console.users import Role
from fengqiao.domain.model import CHINA, Colour
from fengqiao.platform.convert import (
    colour_from_proto,
    notification_from_proto,
    record_from_proto,
    timestamp,
)
from fengqiao.v1 import intake_pb2, notification_pb2

log = structlog.get_logger()

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    label: str
    since: datetime


def periods(now: datetime) -> list[Period]:
    """Today, this week (from Monday) and this month, in China's time."""
    local = now.astimezone(CHINA)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        Period("today", "今日", midnight),
        Period("week", "本周", midnight - timedelta(days=local.weekday())),
        Period("month", "本月", midnight.replace(day=1)),
    ]


@dataclass(frozen=True, slots=True)
class Figure:
    """One of the seeds' figures in one period: the value, and what it counts."""

    text: str
    detail: str


def figures(s: intake_pb2.Stats) -> dict[str, Figure]:
    def rate(part: int, whole: int) -> Figure:
        if whole == 0:
            return Figure("—", "无可统计")
        return Figure(f"{part / whole:.0%}", f"{part}/{whole}")

    return {
        "受理": Figure(str(s.received), f"在办 {s.in_progress}，逾期 {s.overdue}"),
        "及时受理率": rate(s.accepted_in_time, s.accepted),
        "按期办结率": rate(s.closed_on_time, s.closed),
        "就地化解率": rate(s.settled_locally, s.closed),
        "化解成功率": rate(s.agreements, s.agreements + s.mediation_failures),
        "满意度": Figure(f"{s.mean_satisfaction:.1f} / 5", f"回访 {s.followed_up} 件")
        if s.followed_up
        else Figure("—", "无回访"),
    }


async def _summary(request: Request, which: BoardFilter) -> dict[str, Any]:
    apis = console_of(request).apis
    now = datetime.now(UTC)
    spans = periods(now)
    board_call = apis.intake.GetBoard(
        intake_pb2.GetBoardRequest(street=which.street, community=which.community, limit=50)
    )
    stats_calls = [
        apis.intake.GetStats(
            intake_pb2.GetStatsRequest(
                street=which.street, community=which.community, **{"from": timestamp(p.since)}
            )
        )
        for p in spans
    ]
    board, stats = await asyncio.gather(board_call, asyncio.gather(*stats_calls))
    totals = dict.fromkeys(Colour, 0)
    places: dict[tuple[str, str], dict[Colour, int]] = {}
    for c in board.counts:
        colour = colour_from_proto(c.colour)
        if colour is None:
            continue
        totals[colour] += c.count
        places.setdefault((c.street, c.community), dict.fromkeys(Colour, 0))[colour] += c.count
    as_of = board.as_of.ToDatetime(UTC)
    return {
        "colours": COLOURS,
        "totals": totals,
        "places": sorted(places.items()),
        "periods": spans,
        "figures": [figures(s) for s in stats],
        "overdue": [Row.of(record_from_proto(r), as_of) for r in board.overdue],
        "due_soon": [Row.of(record_from_proto(r), as_of) for r in board.due_soon],
        "as_of": as_of,
    }


async def _rows(request: Request, which: BoardFilter, token: str) -> tuple[list[Row], str]:
    page = await console_of(request).apis.intake.ListDisputes(which.list_request(PAGE_SIZE, token))
    now = datetime.now(UTC)
    return [Row.of(record_from_proto(r), now) for r in page.disputes], page.next_page_token


@requires()
async def board_page(request: Request) -> Response:
    which, problems = BoardFilter.parse(request.query_params)
    (summary, (rows, token), last_seq) = await asyncio.gather(
        _summary(request, which), _rows(request, which, ""), console_of(request).last_seq()
    )
    return render(
        request, "board.html",
        {**summary, "which": which, "problems": problems, "rows": rows, "next_token": token,
         "last_seq": last_seq},
    )  # fmt: skip


@requires()
async def summary_fragment(request: Request) -> Response:
    """The figures and lists including revision `seen` (the last event the page got)."""
    which, _ = BoardFilter.parse(request.query_params)
    raw = request.query_params.get("seen", "")
    seen = int(raw) if raw.isdigit() else 0
    console = console_of(request)
    summary = await console.summaries.get(
        which.query(), seen, console.last_seq, lambda: _summary(request, which)
    )
    return render(request, "_summary.html", {**summary, "which": which})


@requires()
async def rows_fragment(request: Request) -> Response:
    which, _ = BoardFilter.parse(request.query_params)
    rows, token = await _rows(request, which, request.query_params.get("page_token", ""))
    return render(request, "_rows.html", {"rows": rows, "which": which, "next_token": token})


@requires()
async def dispute_page(request: Request) -> Response:
    dispute_id = request.path_params["dispute_id"]
    apis = console_of(request).apis
    try:
        stored, told = await asyncio.gather(
            apis.intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
            apis.notification.ListNotifications(
                notification_pb2.ListNotificationsRequest(dispute_id=dispute_id, page_size=500)
            ),
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return HTMLResponse(f"<p class=error>没有编号为 {escape(dispute_id)} 的纠纷</p>", 404)
        raise
    record = record_from_proto(stored)
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "_dispute.html" if fragment else "dispute.html",
        {
            "record": record,
            "row": Row.of(record, datetime.now(UTC)),
            "notifications": [notification_from_proto(n) for n in told.notifications],
            "may_ack": user_of(request).may(Role.HANDLER),
        },
    )


@requires(Role.HANDLER)
async def acknowledge(request: Request) -> Response:
    user = user_of(request)
    notification_id = request.path_params["notification_id"]
    who = f"{user.display}（{user.name}）"
    try:
        done = await console_of(request).apis.notification.Acknowledge(
            notification_pb2.AcknowledgeRequest(notification_id=notification_id, who=who)
        )
    except grpc.aio.AioRpcError as exc:
        log.warning("console_acknowledge_failed", notification_id=notification_id,
                    code=exc.code().name)  # fmt: skip
        return HTMLResponse(
            f"<span class=error>签收失败：{escape(exc.details() or '')}</span>", 400
        )
    log.info("console_acknowledged", notification_id=notification_id,
             dispute_id=done.dispute_id)  # fmt: skip
    return render(
        request, "_notification.html",
        {"n": notification_from_proto(done), "may_ack": True},
    )  # fmt: skip


ROUTES = [
    Route("/board", board_page),
    Route("/board/summary", summary_fragment),
    Route("/board/rows", rows_fragment),
    Route("/disputes/{dispute_id}", dispute_page),
    Route("/notifications/{notification_id}/acknowledge", acknowledge, methods=["POST"]),
]
