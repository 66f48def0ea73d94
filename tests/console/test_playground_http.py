"""The policy playground over plain HTTP: check finds a typo at its line; publishing needs
the policy role and the CSRF token, runs the same review as `rules publish` and changes
the version in force; rollback puts an earlier one back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import structlog
from structlog.testing import capture_logs

from fengqiao.platform.bus import connect
from fengqiao.platform.policies import PolicyStore
from fengqiao.policy import policy_version
from fengqiao.stack import Stack
from tests.conftest import SAMPLES
from tests.console.conftest import csrf_of, signed_in
from tests.console.drafts import SHIPPED, neighbours_sent_up, typo
from tests.triage.policies import relabelled


@dataclass(frozen=True, slots=True)
class Playground:
    """The playground's page open in a signed-in client: posts carry its CSRF token."""

    client: httpx.AsyncClient
    html: str

    async def post(self, path: str, **body: str) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"x-csrf-token": csrf_of(self.html)})


@asynccontextmanager
async def playground(stack: Stack, name: str) -> AsyncIterator[Playground]:
    async with signed_in(stack, name) as client:
        page = await client.get("/playground")
        assert page.status_code == 200, page.text
        yield Playground(client, page.text)


async def active_version(stack: Stack) -> str:
    bus = await connect(stack.settings.nats_url, "test")
    try:
        active = await PolicyStore(bus.policies).active()
    finally:
        await bus.close()
    assert active is not None
    return active.version


async def test_the_page_opens_on_the_version_in_force(console_stack: Stack) -> None:
    async with playground(console_stack, "viewer") as page:
        active = await page.client.get("/playground/active")
    assert active.json()["text"] == SHIPPED
    assert active.json()["version"] == policy_version(SHIPPED.encode())
    assert "政策演练" in page.html and active.json()["version"][:12] in page.html
    # A viewer sees the versions but no publish form and no rollback button.
    assert 'id="versions"' in page.html
    assert 'id="publish-form"' not in page.html and "回滚到此版本" not in page.html


async def test_check_puts_a_typo_at_its_line_and_column(console_stack: Stack) -> None:
    text, line = typo()
    async with playground(console_stack, "viewer") as page:
        clean = (await page.post("/playground/check", text=SHIPPED)).json()
        found = (await page.post("/playground/check", text=text)).json()
    assert clean["ok"] and clean["problems"] == [] and "检查通过" in clean["summary"]
    assert not found["ok"]
    assert [(p["line"], p["column"], p["severity"]) for p in found["problems"]] == [
        (line, 5, "error")
    ]
    assert "community_mediation_roomx" in found["problems"][0]["message"]


async def test_check_says_where_yaml_itself_breaks(console_stack: Stack) -> None:
    lines = SHIPPED.splitlines(keepends=True)
    broken = "".join([*lines[:40], "  bad: [unclosed\n", *lines[40:]])
    async with playground(console_stack, "viewer") as page:
        found = (await page.post("/playground/check", text=broken)).json()
    assert found["problems"] and found["problems"][0]["severity"] == "error"
    assert found["problems"][0]["line"] >= 41 and "YAML" in found["problems"][0]["message"]


async def test_the_cases_show_each_failure_expected_beside_got(console_stack: Stack) -> None:
    async with playground(console_stack, "viewer") as page:
        ran = await page.post("/playground/test", text=neighbours_sent_up())
    assert ran.status_code == 200
    assert 'data-failed="10"' in ran.text
    # 车位被占 (rules/tests/routing.yaml) expects local; the draft sends it up.
    case = ran.text.split("车位被占", 1)[1].split('class="case"', 1)[0]
    route = case.split('class="aspect">去向</td>', 1)[1].split("</tr>", 1)[0]
    assert "就地化解（网格、社区调解室）（local）" in route.split('class="expected"', 1)[1]
    assert "街道联合调解（吹哨报到）（street_office）" in route.split('class="got"', 1)[1]


async def test_publishing_needs_the_policy_role(console_stack: Stack) -> None:
    before = await active_version(console_stack)
    draft = relabelled("2026.12 复核版·演练")
    for name in ("viewer", "handler"):
        async with playground(console_stack, name) as page:
            refused = await page.post("/playground/publish", text=draft, comment="试发布")
            assert refused.status_code == 403 and "政策发布" in refused.text
    assert await active_version(console_stack) == before

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with playground(console_stack, "policy") as page:
            done = await page.post("/playground/publish", text=draft, comment="标签修订")
            versions = await page.client.get("/playground/versions")
    assert done.status_code == 200, done.text
    assert "已发布并启用" in done.text
    assert await active_version(console_stack) == policy_version(draft.encode())
    published = [e for e in logs if e["event"] == "console_policy_published"]
    assert [(e["user"], e["policy_version"], e["comment"]) for e in published] == [
        ("policy", policy_version(draft.encode()), "标签修订")
    ]
    assert "2026.12 复核版·演练" in versions.text and "测试policy（policy）" in versions.text


async def test_a_write_without_the_csrf_token_is_refused(console_stack: Stack) -> None:
    before = await active_version(console_stack)
    draft = relabelled("2026.12 复核版·无令牌")
    async with playground(console_stack, "policy") as page:
        for headers in ({}, {"x-csrf-token": csrf_of(page.html) + "x"}):
            body = {"text": draft, "comment": "无令牌"}
            refused = await page.client.post("/playground/publish", json=body, headers=headers)
            assert refused.status_code == 403 and "CSRF" in refused.text
    assert await active_version(console_stack) == before


async def test_a_draft_failing_its_cases_is_not_published(console_stack: Stack) -> None:
    before = await active_version(console_stack)
    text, _ = typo()
    async with playground(console_stack, "policy") as page:
        failing = await page.post(
            "/playground/publish", text=neighbours_sent_up(), comment="邻里上报"
        )
        broken = await page.post("/playground/publish", text=text, comment="笔误")
        silent = await page.post("/playground/publish", text=relabelled("无说明"), comment="  ")
    assert failing.status_code == 422
    assert "未通过检查或用例，未发布" in failing.text and "车位被占" in failing.text
    assert broken.status_code == 422 and "community_mediation_roomx" in broken.text
    assert silent.status_code == 400 and "说明" in silent.text
    assert await active_version(console_stack) == before


async def test_rollback_puts_an_earlier_version_back(console_stack: Stack) -> None:
    first = await active_version(console_stack)
    draft = relabelled("2026.12 复核版·回滚前")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with playground(console_stack, "policy") as page:
            done = await page.post("/playground/publish", text=draft, comment="先发布")
            assert done.status_code == 200, done.text
            assert await active_version(console_stack) == policy_version(draft.encode())
            back = await page.post("/playground/rollback", version=first[:12], comment="改回")
            unknown = await page.post("/playground/rollback", version="deadbeef00", comment="")
        async with playground(console_stack, "handler") as page:
            refused = await page.post(
                "/playground/rollback", version=policy_version(draft.encode())
            )
    assert back.status_code == 200 and "已回滚并启用" in back.text
    assert unknown.status_code == 404 and "deadbeef00" in unknown.text
    assert refused.status_code == 403
    assert await active_version(console_stack) == first
    rolled = [e for e in logs if e["event"] == "console_policy_rolled_back"]
    assert [(e["user"], e["policy_version"]) for e in rolled] == [("policy", first)]


async def test_explain_takes_a_pasted_dispute_and_says_what_intake_would_refuse(
    console_stack: Stack,
) -> None:
    pasted = (SAMPLES / "07-winter-irrigation-threat.json").read_text(encoding="utf-8")
    async with playground(console_stack, "viewer") as page:
        explained = await page.post("/playground/explain", text=SHIPPED, source="paste",
                                    submission=pasted)  # fmt: skip
        empty = await page.post("/playground/explain", text=SHIPPED, source="paste",
                                submission="{}")  # fmt: skip
        garbled = await page.post("/playground/explain", text=SHIPPED, source="paste",
                                  submission="[1]")  # fmt: skip
        outside = await page.post("/playground/explain", text=SHIPPED, sample="../triage.yaml")
        form = await page.client.post("/playground/explain", data={"text": SHIPPED},
                                      headers={"x-csrf-token": csrf_of(page.html)})  # fmt: skip
    assert explained.status_code == 200
    assert 'class="rule decided" data-rule="risk-first"' in explained.text
    assert empty.status_code == 400 and "受理时会被拒绝" in empty.text
    assert garbled.status_code == 400 and "无法读取粘贴的纠纷" in garbled.text
    assert outside.status_code == 404 and "没有样例" in outside.text
    assert form.status_code == 415
