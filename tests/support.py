"""Waiting for conditions (never for fixed times) and other test helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 30.0
) -> T:
    """Call `probe` until `accept(result)`, backing off from 10 ms to 200 ms; fail after
    `within` seconds with the last result."""
    delay = 0.01
    last: T | None = None
    try:
        async with asyncio.timeout(within):
            while True:
                last = await probe()
                if accept(last):
                    return last
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
    except TimeoutError:
        raise AssertionError(f"condition not met within {within}s; last value: {last!r}") from None
