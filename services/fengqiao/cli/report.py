"""`fengqiao report`: the figures of a street or community over a period, in words, for
the daily summary and weekly review (每日一小结、每周一梳理), and what is overdue now."""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from fengqiao.domain.model import CHINA
from fengqiao.domain.vocabulary import CATEGORIES, label
from fengqiao.notification.directory import Directory
from fengqiao.platform.convert import timestamp
from fengqiao.platform.grpc_tls import GrpcTls
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days in China, `first` to `last` inclusive; either end may be open."""

    first: date | None = None
    last: date | None = None

    def describe(self) -> str:
        if self.first and self.first == self.last:
            return f"{self.first:%Y-%m-%d}"
        if self.first and self.last:
            return f"{self.first:%Y-%m-%d} 至 {self.last:%Y-%m-%d}"
        if self.first:
            return f"{self.first:%Y-%m-%d} 至今"
        if self.last:
            return f"截至 {self.last:%Y-%m-%d}"
        return "累计"

    def request(self, street: str, community: str) -> intake_pb2.GetStatsRequest:
        bounds: dict[str, Timestamp | None] = {}
        if self.first:
            bounds["from"] = _midnight(self.first)
        if self.last:
            bounds["to"] = _midnight(self.last + timedelta(days=1))
        return intake_pb2.GetStatsRequest(street=street, community=community, **bounds)


def _midnight(day: date) -> Timestamp | None:
    return timestamp(datetime.combine(day, time(), CHINA))


def day_argument(text: str) -> date:
    """A date on the command line, `YYYY-MM-DD`."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期应为 YYYY-MM-DD（not a date: {text!r}）") from None


NOTHING_TO_COUNT: Final = "—"


def rate(part: int, whole: int) -> str:
    """`50%（1/2）`: the rate with what it counts, so 100 % of one is not read as 100 % of
    many; `—` when there is nothing to count (not 0 %, which would read as a failure)."""
    if whole == 0:
        return NOTHING_TO_COUNT
    return f"{part / whole:.0%}（{part}/{whole}）"


def format_report(stats: intake_pb2.Stats, place: str, period: Period) -> str:
    s = stats
    lines = [
        f"{place or '全辖区'} {period.describe()} 矛盾纠纷统计",
        f"受理 {s.received} 件，分派 {s.routed} 件，"
        f"升级 {s.escalated} 件（升级率 {rate(s.escalated, s.routed)}）",
        f"在办 {s.in_progress} 件，其中逾期 {s.overdue} 件",
        f"办结 {s.closed} 件：问题处置率 {rate(s.closed, s.received)}，按期办结率 "
        f"{rate(s.closed_on_time, s.closed)}，就地化解率 {rate(s.settled_locally, s.closed)}",
        f"及时受理率 {rate(s.accepted_in_time, s.accepted)}，化解成功率 "
        f"{rate(s.agreements, s.agreements + s.mediation_failures)}"
        f"（达成协议 {s.agreements} 件，调解不成 {s.mediation_failures} 次）",
    ]
    if s.followed_up:
        lines.append(f"回访 {s.followed_up} 件，平均满意度 {s.mean_satisfaction:.1f} / 5")
    if s.fast_track_closed:
        lines.append(
            f"诉调对接·速裁办结 {s.fast_track_closed} 件：当日办结率 "
            f"{rate(s.fast_track_closed_same_day, s.fast_track_closed)}，14 个工作日内办结率 "
            f"{rate(s.fast_track_closed_in_14_working_days, s.fast_track_closed)}"
        )
    return "\n".join(lines)


def unknown_place(street: str, community: str, directory: Directory) -> str | None:
    """What is wrong with the place asked for, if the directory (通讯录, which lists every
    place fengqiao serves) knows no such street or community; the closest names known."""
    for zh, en, name, known in (
        ("街道", "street", street, directory.places(2)),
        ("社区", "community", community, directory.places(3)),
    ):
        if not name or not known or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.3)
        hint = (
            f"，是否指：{'、'.join(close)}"
            if close
            else f"，已知的{zh}：{'、'.join(sorted(known))}"
        )
        return f"通讯录中没有{zh}“{name}”{hint}（unknown {en} {name!r}）"
    return None


def format_overdue(records: list[dispute_pb2.DisputeRecord], now: datetime) -> str:
    """The disputes open past their deadline now, longest overdue first (督办清单)."""
    lines = [f"当前逾期未结 {len(records)} 件（督办）" + ("：" if records else "")]
    for r in sorted(records, key=lambda r: r.decision.deadline.ToDatetime(UTC)):
        deadline = r.decision.deadline.ToDatetime(UTC)
        late = (now - deadline).days
        lines.append(
            f"  {r.dispute.id}  {label(CATEGORIES, r.dispute.category)}  "
            f"{r.decision.route_label}（{r.decision.handler_label}）  时限 "
            f"{deadline.astimezone(CHINA):%Y-%m-%d %H:%M}，已逾期 {late} 天"
        )
    return "\n".join(lines)


async def fetch_report(
    target: str, tls: GrpcTls, request: intake_pb2.GetStatsRequest
) -> tuple[intake_pb2.Stats, list[dispute_pb2.DisputeRecord]]:
    """The figures asked for, and every dispute of the place that is overdue now."""
    async with tls.channel(target) as channel:
        stub: intake_pb2_grpc.IntakeServiceAsyncStub = intake_pb2_grpc.IntakeServiceStub(channel)
        stats = await stub.GetStats(request, timeout=30)
        overdue: list[dispute_pb2.DisputeRecord] = []
        token = ""
        while True:
            page = await stub.ListDisputes(
                intake_pb2.ListDisputesRequest(
                    overdue=True, street=request.street, community=request.community,
                    page_size=500, page_token=token,
                ),
                timeout=30,
            )  # fmt: skip
            overdue += page.disputes
            token = page.next_page_token
            if not token:
                return stats, overdue
