"""The policy playground in a real browser (Debian's Chromium): a typo typed into the
editor is marked at its line, explain marks the deciding rule and dims those after it,
and a replay of an edited draft lists exactly the disputes it would change."""

from __future__ import annotations

import asyncio
import re

import grpc
from playwright.async_api import Page, expect

from fengqiao.policy import load_policy, policy_version
from fengqiao.stack import Stack
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import POLICY, sample, samples
from tests.console.browser import SCREENSHOTS, chromium, sign_in
from tests.console.drafts import SENT_UP_RULE, SHIPPED, neighbours_sent_up, typo
from tests.support import eventually
from tests.triage.policies import relabelled


async def _checked(page: Page) -> None:
    """The page's check of the editor's text as it is now has come back clean."""
    await expect(page.locator("#check-state")).to_have_attribute("data-state", "ok")


async def _replace_text(page: Page, text: str) -> None:
    """Select everything in the editor and paste `text` over it, as a person would."""
    await page.locator(".cm-content").click()
    await page.keyboard.press("Control+a")
    await page.keyboard.insert_text(text)


async def test_a_typo_typed_into_the_editor_is_marked_at_its_line(console_stack: Stack) -> None:
    _, line = typo()
    async with chromium() as browser:
        page = await sign_in(browser, console_stack, "viewer", "/playground")
        await _checked(page)
        await expect(page.locator(".cm-line.fq-problem-line")).to_have_count(0)
        handler = page.locator(".cm-content .cm-line", has_text="handler: community_mediation_room")
        await handler.first.click()
        await page.keyboard.press("End")
        await page.keyboard.type("x")

        marked = page.locator(".cm-line.fq-problem-line")
        await expect(marked).to_have_count(1)
        await expect(marked).to_have_text("    handler: community_mediation_roomx")
        marker = page.locator(".cm-lint-marker-error")
        await expect(marker).to_have_count(1)
        await expect(page.locator("#check-state")).to_have_attribute("data-state", "error")
        # The gutter's marker stands beside line `line`, as its number does.
        number = page.locator(".cm-lineNumbers .cm-gutterElement",
                              has_text=re.compile(rf"^{line}$"))  # fmt: skip
        boxes = [await x.bounding_box() for x in (marker, marked, number)]
        assert all(b is not None for b in boxes)
        centres = [b["y"] + b["height"] / 2 for b in boxes if b is not None]
        assert max(centres) - min(centres) < 4, centres
        listed = page.locator("#problems li.error")
        await expect(listed).to_have_count(1)
        await expect(listed).to_have_attribute("data-line", str(line))
        await expect(listed).to_contain_text(f"第 {line} 行第 5 列")
        await expect(listed).to_contain_text("community_mediation_roomx")

        await page.keyboard.press("Backspace")
        await _checked(page)
        await expect(page.locator(".cm-line.fq-problem-line")).to_have_count(0)


async def test_explain_marks_the_deciding_rule_and_dims_the_rules_after_it(
    console_stack: Stack,
) -> None:
    rules = [r.id for r in load_policy(POLICY).rules]
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{console_stack.port('intake')}") as channel,
        chromium() as browser,
    ):
        stored = await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(sample("18"))
        page = await sign_in(browser, console_stack, "viewer", "/playground")
        await _checked(page)
        result = page.locator("#explain-result")
        for explained, expected in (("sample", "neighbour-and-property"), ("stored", "risk-first")):
            if explained == "sample":
                await page.select_option("#explain-form select[name=sample]",
                                         "01-square-dance-noise.json")  # fmt: skip
            else:
                await page.check("#explain-form input[name=source][value=stored]")
                await page.fill("#explain-form input[name=dispute_id]", stored.dispute_id)
            await page.click("#explain-form button[type=submit]")
            decided = result.locator(".rule.decided")
            await expect(decided).to_have_attribute("data-rule", expected)
            at = rules.index(expected)
            shown = result.locator(".rule")
            assert await shown.evaluate_all("els => els.map(e => e.dataset.rule)") == rules
            missed = await result.locator(".rule.missed").evaluate_all(
                "els => els.map(e => e.dataset.rule)"
            )
            skipped = await result.locator(".rule.skipped").evaluate_all(
                "els => els.map(e => e.dataset.rule)"
            )
            assert (missed, skipped) == (rules[:at], rules[at + 1 :])
            await expect(decided).to_contain_text("✔ 命中")
            await expect(result.locator(".rule.skipped").first).to_have_css("opacity", "0.45")
        await expect(result).to_contain_text(f"纠纷 {stored.dispute_id} 第 1 步")
        await expect(result).to_contain_text("记录为规则 risk-first")


async def _submit_every_sample(stack: Stack) -> dict[str, str]:
    """Every sample submitted through intake and decided by triage; each dispute's id and
    the rule that decided it, once the read model (what a replay reads) has them all."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        intake = intake_pb2_grpc.IntakeServiceStub(channel)
        answers = await asyncio.gather(*(intake.SubmitDispute(r) for r in samples()))
        ids = {a.dispute_id for a in answers}

        async def decided() -> dict[str, str]:
            page = await intake.ListDisputes(intake_pb2.ListDisputesRequest(page_size=100))
            return {r.dispute.id: r.decision.rule_id for r in page.disputes if r.decision.rule_id}

        return await eventually(decided, lambda found: set(found) == ids)


async def test_replay_lists_exactly_the_disputes_an_edit_changes(console_stack: Stack) -> None:
    rules = await _submit_every_sample(console_stack)
    # Independently of the replay: the draft changes only what its edited rule decided.
    expected = sorted(d for d, rule in rules.items() if rule == SENT_UP_RULE)
    assert 0 < len(expected) < len(rules)
    async with chromium() as browser:
        page = await sign_in(browser, console_stack, "policy", "/playground")
        await _checked(page)
        await _replace_text(page, neighbours_sent_up())
        await expect(page.locator("#check-state")).to_contain_text("检查通过")
        await _checked(page)
        await page.click("#replay-form button[type=submit]")
        summary = page.locator("#replay-result .replay-summary")
        await expect(summary).to_have_attribute("data-disputes", str(len(rules)))
        listed = page.locator("#replay-result .changed-disputes > li[data-id]")
        await expect(listed).to_have_count(len(expected))
        ids = await listed.evaluate_all("els => els.map(e => e.dataset.id)")
        assert sorted(ids) == expected
        links = await listed.locator("a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        assert sorted(links) == [f"/disputes/{d}" for d in expected]
        await expect(listed.first).to_contain_text(f"{SENT_UP_RULE} → {SENT_UP_RULE}")
        await expect(listed.first).to_contain_text("去向 就地化解")

        # The rest of the page for the screenshot: the cases the edit breaks, side by side,
        # and one of the changed disputes explained under the draft.
        await page.click("#run-tests")
        await expect(page.locator("#tests-result .cases-summary")).to_have_attribute(
            "data-failed", "10"
        )
        await page.select_option("#explain-form select[name=sample]", "01-square-dance-noise.json")
        await page.click("#explain-form button[type=submit]")
        await expect(page.locator("#explain-result .rule.decided")).to_have_attribute(
            "data-rule", SENT_UP_RULE
        )
        await expect(page.locator("#explain-result .verdict")).to_contain_text("街道联合调解")
        # A result's line number takes the editor to the edited rule.
        await page.locator("#explain-result .rule.decided button.at").click()
        await expect(page.locator(".cm-activeLine")).to_contain_text(f"id: {SENT_UP_RULE}")
        await page.evaluate("window.scrollTo(0, 0)")  # the editor at its place, beside the tools
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "playground.png"), full_page=True)


async def test_a_policy_user_publishes_from_the_page_and_rolls_back(console_stack: Stack) -> None:
    first = policy_version(SHIPPED.encode())
    draft = relabelled("2026.12 复核版·页面发布")
    second = policy_version(draft.encode())
    async with chromium() as browser:
        page = await sign_in(browser, console_stack, "policy", "/playground")
        await expect(page.locator("#in-force code")).to_have_text(first[:12])
        await _replace_text(page, draft)
        await _checked(page)
        await page.fill("#publish-form input[name=comment]", "页面发布")
        await page.click("#publish-form button[type=submit]")
        done = page.locator("#publish-result .done")
        await expect(done).to_have_attribute("data-version", second)
        await expect(page.locator("#in-force code")).to_have_text(second[:12])
        await expect(page.locator("#versions tr.active")).to_have_attribute("data-version", second)

        back = page.locator(f"#versions form.rollback[data-version='{first}']")
        await back.locator("input[name=comment]").fill("改回")
        await back.locator("button").click()
        done = page.locator("#rollback-result .done")
        await expect(done).to_have_attribute("data-version", first)
        await expect(page.locator("#in-force code")).to_have_text(first[:12])
        await expect(page.locator("#versions tr.active")).to_have_attribute("data-version", first)
        await expect(page.locator("#versions .activations li").first).to_contain_text("回滚")


async def test_refusals_as_the_browser_meets_them(console_stack: Stack) -> None:
    """From a signed-in page: a handler has no publish form and a publish sent anyway is
    refused; a write without the page's CSRF token is refused; a viewer has no 签收."""
    post = """async ([path, body, token]) => {
        const headers = {"content-type": "application/json"};
        const meta = document.querySelector("meta[name=csrf-token]");
        if (token) headers["x-csrf-token"] = meta.content;
        const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
        return [r.status, await r.text()];
    }"""
    async with chromium() as browser:
        handler = await sign_in(browser, console_stack, "handler", "/playground")
        await expect(handler.locator(".cm-content")).to_be_visible()
        assert await handler.locator("#publish-form").count() == 0
        body = {"text": "version: x", "comment": "试发布"}
        status, text = await handler.evaluate(post, ["/playground/publish", body, True])
        assert status == 403 and "政策发布" in text
        ack = "/notifications/a.b.0123456789abcdef0123/acknowledge"
        status, text = await handler.evaluate(post, [ack, {}, False])
        assert status == 403 and "CSRF" in text
        viewer = await sign_in(browser, console_stack, "viewer")
        status, text = await viewer.evaluate(post, [ack, {}, True])
        assert status == 403 and "办理" in text
