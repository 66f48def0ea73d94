"""A graceful stop that hangs ends, saying what it waited for."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from fengqiao.stack import stop_within


async def test_a_stop_that_overruns_exits_naming_what_it_waits_for() -> None:
    codes: list[int] = []
    exited = asyncio.Event()

    def exit(code: int) -> None:
        codes.append(code)
        exited.set()

    stuck = asyncio.create_task(asyncio.Event().wait(), name="stuck-consumer")
    try:
        with capture_logs() as lines:
            stop_within(0.05, exit=exit)
            async with asyncio.timeout(5):
                await exited.wait()
    finally:
        stuck.cancel()
    assert codes == [1]
    (line,) = [entry for entry in lines if entry["event"] == "stop_overran"]
    assert any(waiting.startswith("stuck-consumer at ") for waiting in line["waiting"])


async def test_a_stop_in_time_does_not_exit() -> None:
    codes: list[int] = []
    handle = stop_within(0.05, exit=codes.append)
    handle.cancel()
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.2, done.set_result, None)
    await done
    assert codes == []
