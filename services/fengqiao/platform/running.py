"""What a started service looks like to whoever runs it."""

from __future__ import annotations

from typing import Protocol


class Running(Protocol):
    name: str
    port: int

    async def stop(self) -> None: ...
