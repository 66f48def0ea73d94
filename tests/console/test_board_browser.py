"""The board in a real browser (Debian's Chromium): live arrivals and escalations without
a reload, the overdue list's order, bookmarked filters, and 签收 by role."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import grpc
from playwright.async_api import Page, expect

from fengqiao.domain.kinds import EventKind
from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import Stack
from fengqiao.v1 import dispute_pb2, intake_pb2, intake_pb2_grpc
from tests.conftest import sample
from tests.console.browser import SCREENSHOTS, chromium, sign_in
from tests.readmodel.records import records, stored
from tests.support import eventually


async def _intake(stack: Stack) -> tuple[grpc.aio.Channel, intake_pb2_grpc.IntakeServiceAsyncStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}")
    return channel, intake_pb2_grpc.IntakeServiceStub(channel)


async def _report(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub, dispute_id: str, kind: str, reason: str = ""
) -> None:
    event = dispute_pb2.CaseEvent(kind=kind, actor="调解员", reason=reason)
    await intake.RecordEvent(intake_pb2.RecordEventRequest(dispute_id=dispute_id, event=event))


async def _mark_loaded(page: Page) -> None:
    """A flag that a reload would lose: the page must still carry it at the end."""
    await page.evaluate("window.fqNoReload = true")


async def _not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.fqNoReload === true"), "the page was reloaded"


async def test_a_new_dispute_appears_and_its_escalation_shows_live(console_stack: Stack) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        await _mark_loaded(page)
        await expect(page.locator("#live-state")).to_have_text("实时更新中")
        submitted = await intake.SubmitDispute(sample("01"))
        row = page.locator(f"#row-{submitted.dispute_id}")
        await expect(row).to_be_visible(timeout=2_000)
        await expect(row).to_have_attribute("data-route", "local", timeout=5_000)
        for kind in (EventKind.ACCEPTED, EventKind.MEDIATION_STARTED):
            await _report(intake, submitted.dispute_id, kind)
        await expect(row).to_have_attribute("data-colour", "blue", timeout=5_000)
        await _report(intake, submitted.dispute_id, EventKind.MEDIATION_FAILED, "双方分歧较大")
        await expect(row).to_have_attribute("data-route", "street_office", timeout=5_000)
        await expect(row.locator("td.route")).to_contain_text("街道联合调解")
        await expect(row).to_have_attribute("data-colour", "green")
        # The figures follow without a reload too: one dispute, green again.
        await expect(page.locator(".count.green .n")).to_have_text("1", timeout=5_000)
        await _not_reloaded(page)


async def test_paused_board_holds_updates_until_resumed(console_stack: Stack) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        await expect(page.locator("#live-state")).to_have_text("实时更新中")
        await page.click("#pause")
        submitted = await intake.SubmitDispute(sample("02"))
        await expect(page.locator("#live-state")).to_contain_text("条新动态待显示", timeout=5_000)
        assert await page.locator(f"#row-{submitted.dispute_id}").count() == 0
        await page.click("#pause")
        await expect(page.locator(f"#row-{submitted.dispute_id}")).to_be_visible()


async def _store(bus: Bus) -> list[str]:
    """Decided, still-open records written to the bucket as intake would; the ids of
    those overdue now, longest overdue first."""
    now = datetime.now(UTC)
    kept = [r for r in records(21, 60) if r.decision is not None and not r.status.closed]
    for r in kept:
        await bus.disputes.put(r.id, stored(r))
    late = sorted((r for r in kept if r.overdue(now)), key=lambda r: (r.decision.deadline, r.id))  # type: ignore[union-attr]
    return [r.id for r in late]


async def test_the_overdue_list_puts_the_longest_overdue_first(console_stack: Stack) -> None:
    bus = await connect(console_stack.settings.nats_url, "test")
    try:
        expected = await _store(bus)
    finally:
        await bus.close()
    assert len(expected) > 5
    async with chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        items = page.locator("#overdue li[data-id]")
        await expect(items).to_have_count(min(len(expected), 50), timeout=5_000)
        assert await items.evaluate_all("els => els.map(e => e.dataset.id)") == expected[:50]
        await expect(page.locator("#overdue li").first).to_contain_text("逾期")
        # The board as the README shows it: a street's worth of open disputes, one open.
        await page.locator("#rows tr[data-id] a").first.click()
        await expect(page.locator("#detail .timeline")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)


async def test_a_bookmarked_filter_reopens_the_same_view(console_stack: Stack) -> None:
    bus = await connect(console_stack.settings.nats_url, "test")
    try:
        await _store(bus)
    finally:
        await bus.close()
    async with chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        await page.select_option("select[name=colour]", "blue")
        await page.check("input[name=overdue]")
        await page.click(".filters button[type=submit]")
        await page.wait_for_url("**colour=blue**")
        shown = await page.locator("#rows tr[data-id]").evaluate_all(
            "els => els.map(e => [e.dataset.id, e.dataset.colour, e.dataset.overdue])"
        )
        assert shown and all(colour == "blue" and overdue == "1" for _, colour, overdue in shown)
        bookmark = page.url
        again = await (await page.context.new_page()).goto(bookmark)
        assert again is not None
        reopened = again.frame.page
        assert await reopened.locator("select[name=colour]").input_value() == "blue"
        assert await reopened.locator("input[name=overdue]").is_checked()
        assert (
            await reopened.locator("#rows tr[data-id]").evaluate_all(
                "els => els.map(e => [e.dataset.id, e.dataset.colour, e.dataset.overdue])"
            )
            == shown
        )


async def test_a_handler_acknowledges_from_the_board_and_a_viewer_cannot(
    console_stack: Stack,
) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        submitted = await intake.SubmitDispute(sample("01"))
        viewer = await sign_in(browser, console_stack, "viewer")
        await viewer.locator(f"#row-{submitted.dispute_id} a").first.click()
        await expect(viewer.locator("#detail .notifications li").first).to_be_visible(timeout=5_000)
        await expect(viewer.locator("#detail .pending").first).to_have_text("待签收")
        assert await viewer.locator("#detail button.ack").count() == 0

        handler = await sign_in(browser, console_stack, "handler")
        await handler.locator(f"#row-{submitted.dispute_id} a").first.click()
        button = handler.locator("#detail button.ack").first
        await expect(button).to_be_visible(timeout=5_000)
        await button.click()
        await expect(handler.locator("#detail .acked").first).to_contain_text("测试handler")


async def test_a_row_being_acted_on_is_updated_only_when_left(console_stack: Stack) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        submitted = await intake.SubmitDispute(sample("01"))
        page = await sign_in(browser, console_stack, "viewer")
        row = page.locator(f"#row-{submitted.dispute_id}")
        await expect(row).to_have_attribute("data-route", "local", timeout=5_000)
        await row.locator("a").first.focus()
        await page.evaluate(f"document.getElementById('row-{submitted.dispute_id}').fqMine = 1")
        await _report(intake, submitted.dispute_id, EventKind.ACCEPTED)
        await _report(intake, submitted.dispute_id, EventKind.MEDIATION_STARTED)
        # The figures move (blue 1), while the focused row stays what the user sees.
        await expect(page.locator(".count.blue .n")).to_have_text("1", timeout=5_000)
        await expect(row).to_have_attribute("data-colour", "green")
        assert await row.evaluate("r => r.fqMine") == 1
        await page.locator("h1").click()  # focus leaves the row
        await expect(row).to_have_attribute("data-colour", "blue", timeout=5_000)


async def test_the_sound_for_urgent_cases_is_off_until_turned_on(console_stack: Stack) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        assert not await page.locator("#sound").is_checked()
        first = await intake.SubmitDispute(sample("09"))  # self-harm: urgent
        row = page.locator(f"#row-{first.dispute_id}")
        await expect(row).to_have_attribute("data-urgent", "1", timeout=5_000)
        assert await page.locator("#board").get_attribute("data-beeps") is None
        await page.check("#sound")
        second = await intake.SubmitDispute(sample("07"))  # a threat: urgent
        await expect(page.locator(f"#row-{second.dispute_id}")).to_have_attribute(
            "data-urgent", "1", timeout=5_000
        )
        await expect(page.locator("#board")).to_have_attribute("data-beeps", "1")
        # The choice is kept for the next visit.
        await page.reload()
        assert await page.locator("#sound").is_checked()


async def test_the_board_comes_back_by_itself_after_the_bus_restarts(
    console_stack: Stack, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    channel, intake = await _intake(console_stack)
    async with channel, chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer")
        await _mark_loaded(page)
        await expect(page.locator("#live-state")).to_have_text("实时更新中")
        port = nats_server.port
        await nats_server.stop()
        await expect(page.locator("#live-state")).to_have_text(
            "消息总线中断，等待恢复…", timeout=30_000
        )
        restarted = await EmbeddedNats.start(tmp_path / "nats", port=port)
        nats_server.process = restarted.process  # the fixture stops this one
        submitted = await eventually(
            lambda: _try_submit(intake), lambda answer: answer is not None, within=60
        )
        assert submitted is not None
        await expect(page.locator(f"#row-{submitted.dispute_id}")).to_be_visible(timeout=30_000)
        await expect(page.locator("#live-state")).to_have_text("实时更新中")
        await _not_reloaded(page)


async def _try_submit(
    intake: intake_pb2_grpc.IntakeServiceAsyncStub,
) -> intake_pb2.SubmitDisputeResponse | None:
    try:
        return await intake.SubmitDispute(sample("03"), timeout=10)
    except grpc.aio.AioRpcError:
        return None
