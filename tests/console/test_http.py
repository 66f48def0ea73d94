"""The console over plain HTTP: who may do what, CSRF on every write, the board's parts."""

from __future__ import annotations

import asyncio
import re
from functools import partial

import grpc
import httpx
from structlog.testing import capture_logs

from fengqiao.platform.bus import KV_DISPUTES, connect, kv_stream
from fengqiao.stack import Stack
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.console.conftest import console_url, csrf_of, signed_in
from tests.support import eventually


async def test_pages_need_a_signed_in_user(console_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=console_url(console_stack)) as client:
        board = await client.get("/board?street=x")
        assert board.status_code == 303
        assert board.headers["location"] == "/login?next=/board%3Fstreet%3Dx"
        live = await client.get("/live", headers={"accept": "text/event-stream"})
        assert live.status_code == 401


async def test_healthz_answers_without_a_session_and_sets_no_cookie(console_stack: Stack) -> None:
    """The probes' page (deploy/): 200 `ok` for anyone, and no session cookie for it."""
    async with httpx.AsyncClient(base_url=console_url(console_stack)) as client:
        health = await client.get("/healthz")
    assert health.status_code == 200 and health.text == "ok"
    assert "set-cookie" not in health.headers


async def test_a_wrong_password_is_refused_and_a_right_one_signs_in(console_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=console_url(console_stack)) as client:
        page = await client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        wrong = await client.post("/login", data={"name": "viewer", "password": "nope",
                                                  "csrf_token": token})  # fmt: skip
        assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text
    async with signed_in(console_stack, "viewer") as client:
        board = await client.get("/board")
        assert board.status_code == 200 and "四色看板" in board.text and "测试viewer" in board.text


async def test_the_board_shows_a_submitted_dispute(console_stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{console_stack.port('intake')}") as channel:
        submitted = await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(sample("01"))
    async with signed_in(console_stack, "viewer") as client:
        board = await client.get("/board")
        assert submitted.dispute_id in board.text
        detail = await client.get(f"/disputes/{submitted.dispute_id}")
        assert detail.status_code == 200 and "处理经过" in detail.text
        missing = await client.get("/disputes/FQ-nothing")
        assert missing.status_code == 404


async def test_a_write_without_the_csrf_token_is_refused(console_stack: Stack) -> None:
    async with signed_in(console_stack, "handler") as client:
        refused = await client.post("/notifications/a.b.0123456789abcdef0123/acknowledge")
        assert refused.status_code == 403 and "CSRF" in refused.text
        token = csrf_of((await client.get("/board")).text)
        wrong = await client.post(
            "/notifications/a.b.0123456789abcdef0123/acknowledge",
            headers={"x-csrf-token": token + "x"},
        )
        assert wrong.status_code == 403


async def test_a_viewer_cannot_acknowledge(console_stack: Stack) -> None:
    async with signed_in(console_stack, "viewer") as client:
        token = csrf_of((await client.get("/board")).text)
        refused = await client.post(
            "/notifications/a.b.0123456789abcdef0123/acknowledge", headers={"x-csrf-token": token}
        )
        assert refused.status_code == 403 and "办理" in refused.text


async def test_each_rate_shows_what_it_counts_or_a_dash(console_stack: Stack) -> None:
    async with signed_in(console_stack, "viewer") as client:
        empty = (await client.get("/board/summary")).text
        assert empty.count("无可统计") == 12  # four rates, three periods: nothing to count
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{console_stack.port('intake')}"
        ) as channel:
            intake = intake_pb2_grpc.IntakeServiceStub(channel)
            submitted = await intake.SubmitDispute(sample("01"))
            await eventually(
                partial(
                    intake.GetDispute, intake_pb2.GetDisputeRequest(dispute_id=submitted.dispute_id)
                ),
                lambda r: r.step == 1,
            )
            await intake.RecordEvent(
                intake_pb2.RecordEventRequest(
                    dispute_id=submitted.dispute_id,
                    event=dispute_pb2.CaseEvent(kind="accepted", actor="网格员"),
                )
            )
        # A page asks for the figures including the last revision it was shown.
        seen = await console_stack_last_seq(console_stack)
        summary = (await client.get(f"/board/summary?seen={seen}")).text
        assert "100%</span> <small>1/1</small>" in summary  # 及时受理率, accepted in time
        assert summary.count("无可统计") == 9


async def test_pages_showing_one_filter_share_one_computation_of_the_figures(
    console_stack: Stack,
) -> None:
    async with (
        signed_in(console_stack, "viewer") as client,
        grpc.aio.insecure_channel(f"127.0.0.1:{console_stack.port('intake')}") as channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        await intake.SubmitDispute(sample("01"))
        with capture_logs() as logs:
            pages = await asyncio.gather(*(client.get("/board/summary?seen=1") for _ in range(6)))
        assert {p.status_code for p in pages} == {200} and len({p.text for p in pages}) == 1
        assert [e["event"] for e in logs].count("console_summary_computed") == 1
        # A page that has seen a later revision gets figures that include it.
        await intake.SubmitDispute(sample("02"))
        info = await console_stack_last_seq(console_stack)
        with capture_logs() as logs:
            later = await client.get(f"/board/summary?seen={info}")
        assert [e["event"] for e in logs].count("console_summary_computed") == 1
        assert re.search(r'data-colour="green">\s*<span class="n">2</span>', later.text)


async def console_stack_last_seq(stack: Stack) -> int:
    bus = await connect(stack.settings.nats_url, "test")
    try:
        return int((await bus.js.stream_info(kv_stream(KV_DISPUTES))).state.last_seq)
    finally:
        await bus.close()
