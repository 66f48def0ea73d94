"""`fengqiao demo` (what `make demo` runs) ends by printing the console's address and
its users, and serves on: a person signs in and watches new disputes arrive."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import httpx

from tests.conftest import ROOT
from tests.console.conftest import sign_in


async def _line(stream: asyncio.StreamReader, pattern: str) -> re.Match[str]:
    while True:
        raw = await stream.readline()
        assert raw, f"the demo ended before printing {pattern!r}"
        if found := re.search(pattern, raw.decode()):
            return found


async def test_the_demo_serves_the_console_with_its_users_until_interrupted() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGQIAO_")}
    env["FENGQIAO_CONSOLE_ADDR"] = "127.0.0.1:0"  # not the default 8080 a person may be using
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fengqiao", "demo", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert demo.stdout is not None
    try:
        async with asyncio.timeout(120):
            url = (await _line(demo.stdout, r"控制台（console）：(http://\S+)/board")).group(1)
            user = await _line(demo.stdout, r"办理（签收）（\S+）：用户名 (\w+)，密码 (\S+)")
            await _line(demo.stdout, r"按 Ctrl\+C 结束")
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                await sign_in(client, user[1], user[2])
                board = await client.get("/board")
                assert board.status_code == 200
                shown = set(re.findall(r'data-id="(FQ-[^"]+)"', board.text))
                assert len(shown) >= len(list((ROOT / "rules" / "samples").glob("*.json")))
                after = re.search(r'data-after="(\d+)"', board.text)
                assert after is not None
                # The next arrival comes on the live feed, not in what was shown.
                async with client.stream(
                    "GET", f"/live?after={after[1]}", headers={"accept": "text/event-stream"}
                ) as live:
                    async for line in live.aiter_lines():
                        if line.startswith("data: ") and '"id"' in line:
                            arrived = re.search(r'"id": "(FQ-[^"]+)"', line)
                            assert arrived is not None
                            if arrived[1] not in shown:
                                break
        demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = await demo.stdout.read()
            assert await demo.wait() == 0
        assert "演示结束" in rest.decode()
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
