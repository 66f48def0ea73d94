"""Debian's Chromium, driven by Playwright (no browser download: `executable_path`).

`.ci/run` installs `chromium` and `fonts-noto-cjk` with apt; the flags keep Chromium off
the network it cannot reach here and out of the sandbox it cannot make as root."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from fengqiao.stack import Stack
from tests.console.conftest import PASSWORD, console_url

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Where the tests leave their screenshots (README links them).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed: apt-get install chromium fonts-noto-cjk (.ci/run does)"
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(browser: Browser, stack: Stack, name: str, path: str = "/board") -> Page:
    """A new page (its own cookies) signed in as `name` and showing `path`."""
    context = await browser.new_context(
        base_url=console_url(stack), locale="zh-CN", viewport={"width": 1600, "height": 1000}
    )
    page = await context.new_page()
    await page.goto(f"/login?next={path}")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"**{path.split('?', maxsplit=1)[0]}*")
    return page
