"""`fengqiao demo`: start everything, submit the samples, show what happened."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import tempfile
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

import grpc

from fengqiao.cli.report import Period, format_report
from fengqiao.console.users import ROLE_LABELS, NewUser, Role, write_users_file
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.vocabulary import CATEGORIES, RECIPIENT_ROLES, label
from fengqiao.platform.settings import Settings
from fengqiao.policy.deadlines import CHINA
from fengqiao.samples import read_submission, sample_files
from fengqiao.stack import running
from fengqiao.v1 import (
    dispute_pb2,
    intake_pb2,
    intake_pb2_grpc,
    notification_pb2,
    notification_pb2_grpc,
)

SERVICES = ("intake", "triage", "notification")
# The console's demo users, one per role: printed with the console's address.
DEMO_USERS: Final = (
    ("zhiban", "zhiban-demo", "李明", "viewer"),
    ("banli", "banli-demo", "王芳", "handler"),
    ("zhengce", "zhengce-demo", "陈静", "policy"),
)
# How often the serving demo takes in another sample, so arrivals can be watched.
TRICKLE_SECONDS = 8.0


# Generous for a loaded 2-core machine; a healthy run takes a few seconds.
WAIT_SECONDS = 60.0


async def poll_dispute(
    stub: intake_pb2_grpc.IntakeServiceAsyncStub,
    dispute_id: str,
    ready: Callable[[dispute_pb2.DisputeRecord], bool],
) -> dispute_pb2.DisputeRecord:
    """Poll GetDispute until `ready(record)` (bound it with `asyncio.timeout`)."""
    delay = 0.01
    while True:
        record = await stub.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id))
        if ready(record):
            return record
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


def _notified(record: dispute_pb2.DisputeRecord) -> bool:
    return any(e.kind == EventKind.NOTIFIED for e in record.timeline)


async def run_demo(settings: Settings, samples: Path, *, once: bool = False) -> int:
    """Start everything, submit the samples, print what happened. Unless `once`, the
    console serves on: its address and demo users are printed, another sample arrives
    every few seconds (every third one climbs a rung) until Ctrl+C."""
    files = sample_files(samples)
    if not files:
        print(f"没有找到样例：{samples}/*.json")
        return 1
    requests = [read_submission(f) for f in files]
    with tempfile.TemporaryDirectory(prefix="fengqiao-demo-") as tmp:
        demo_settings = replace(
            settings,
            data_dir=Path(tmp),
            intake_addr="127.0.0.1:0",
            triage_addr="127.0.0.1:0",
            notification_addr="127.0.0.1:0",
            console=replace(
                settings.console,
                addr=_free_or_any(settings.console.addr),
                users_file=write_demo_users(Path(tmp) / "console-users.yaml"),
            ),
        )
        names = SERVICES if once else (*SERVICES, "console")
        async with (
            running(demo_settings, names) as stack,
            grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as intake_ch,
            grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('notification')}") as notify_ch,
        ):
            intake = intake_pb2_grpc.IntakeServiceStub(intake_ch)
            notify = notification_pb2_grpc.NotificationServiceStub(notify_ch)
            async with asyncio.timeout(WAIT_SECONDS):
                submitted = await asyncio.gather(*(intake.SubmitDispute(r) for r in requests))
                records = await asyncio.gather(
                    *(poll_dispute(intake, s.dispute_id, _notified) for s in submitted)
                )
                told = await asyncio.gather(
                    *(
                        notify.ListNotifications(
                            notification_pb2.ListNotificationsRequest(dispute_id=r.dispute.id)
                        )
                        for r in records
                    )
                )
                ladder = await climb_once(intake, records[0].dispute.id)
                stats = await intake.GetStats(intake_pb2.GetStatsRequest())
            print_table(files, records, told)
            print_timeline(ladder)
            print(f"\n{format_report(stats, '', Period())}")
            if once:
                return 0
            print_console(stack.port("console"))
            await trickle(intake, requests)
    return 0


def write_demo_users(path: Path) -> Path:
    users = (NewUser(name, display, (Role(role),), password)
             for name, password, display, role in DEMO_USERS)  # fmt: skip
    # Cost 10, not 12: the file lives as long as the demo; each sign-in checks a hash.
    return write_users_file(
        path, users, heading="演示用户（fengqiao demo）：仅供本机演示。", rounds=10
    )


def _free_or_any(addr: str) -> str:
    """`addr` if it can be bound now, else any free port on its host."""
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_server((host, int(port))):
            return addr
    except OSError:
        return f"{host}:0"


def print_console(port: int) -> None:
    print(f"\n控制台（console）：http://127.0.0.1:{port}/board")
    for name, password, display, role in DEMO_USERS:
        print(f"  {ROLE_LABELS[Role(role)]}（{display}）：用户名 {name}，密码 {password}")
    print(f"演示继续：每 {TRICKLE_SECONDS:.0f} 秒受理一件新纠纷，每三件中有一件调解不成升级；"
          "按 Ctrl+C 结束（the demo goes on until Ctrl+C）", flush=True)  # fmt: skip


async def trickle(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
    requests: Sequence[intake_pb2.SubmitDisputeRequest],
) -> None:
    """Another sample every TRICKLE_SECONDS, as new submissions, until SIGINT or SIGTERM;
    every third one, once routed, fails its local mediation and climbs a rung."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for n in itertools.count(1):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TRICKLE_SECONDS)
        if stop.is_set():
            print("演示结束（stopped）")
            return
        request = intake_pb2.SubmitDisputeRequest()
        request.CopyFrom(requests[n % len(requests)])
        request.request_id = f"demo-{uuid.uuid4().hex}"
        submitted = await intake.SubmitDispute(request)
        if n % 3 == 0:
            async with asyncio.timeout(WAIT_SECONDS):
                routed = await poll_dispute(intake, submitted.dispute_id, _notified)
                if routed.decision.route == dispute_pb2.ROUTE_LOCAL:
                    await climb_once(intake, submitted.dispute_id)


async def climb_once(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, dispute_id: str
) -> dispute_pb2.DisputeRecord:
    """Walk one dispute through acceptance and a failed mediation, which the policy
    escalates to the street office; return it once the new rung has been told."""
    steps = [
        dispute_pb2.CaseEvent(kind=EventKind.ACCEPTED, actor="网格员"),
        dispute_pb2.CaseEvent(kind=EventKind.MEDIATION_STARTED, actor="社区调解员"),
        dispute_pb2.CaseEvent(
            kind=EventKind.MEDIATION_FAILED,
            actor="社区调解员",
            reason="双方对作息时间分歧较大，调解未果",
        ),
    ]
    for event in steps:
        await intake.RecordEvent(intake_pb2.RecordEventRequest(dispute_id=dispute_id, event=event))
    return await poll_dispute(
        intake, dispute_id, lambda r: r.step == 2 and r.timeline[-1].kind == EventKind.NOTIFIED
    )


def print_timeline(record: dispute_pb2.DisputeRecord) -> None:
    print(f"\n纠纷 {record.dispute.id} 的经过（逐级上交）：")
    for entry in record.timeline:
        at = entry.at.ToDatetime(tzinfo=CHINA).astimezone(CHINA)
        who = f"［{entry.actor}］" if entry.actor and entry.actor != "triage" else ""
        print(f"  {at:%H:%M:%S} {who}{entry.summary}")


def print_table(
    files: list[Path],
    records: list[dispute_pb2.DisputeRecord],
    told: list[notification_pb2.ListNotificationsResponse],
) -> None:
    header = ("样例", "纠纷编号", "类别", "去向", "规则", "时限", "已通知")
    rows = [header]
    routes: dict[str, int] = {}
    for path, record, notes in zip(files, records, told, strict=True):
        d = record.decision
        deadline = d.deadline.ToDatetime(tzinfo=CHINA).astimezone(CHINA)
        urgent = "【急】" if d.priority == dispute_pb2.PRIORITY_URGENT else ""
        rows.append(
            (
                path.stem[:2],
                record.dispute.id,
                label(CATEGORIES, record.dispute.category),
                urgent + d.route_label,
                d.rule_title or d.rule_id,
                f"{deadline:%m-%d %H:%M}",
                told_summary(notes.notifications),
            )
        )
        routes[d.route_label] = routes.get(d.route_label, 0) + 1
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    print()
    print(f"共 {len(records)} 件：" + "，".join(f"{k} {v} 件" for k, v in routes.items()))


def told_summary(notifications: Sequence[notification_pb2.Notification]) -> str:
    """`6：街道综治中心、网格员、当事人×2、派出所`: how many were told, and who, each role
    counted (two parties are two people told)."""
    roles = Counter(label(RECIPIENT_ROLES, n.recipient_role) for n in notifications)
    who = "、".join(r if count == 1 else f"{r}×{count}" for r, count in roles.items())
    return f"{len(notifications)}：{who}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
