"""What a started service looks like to whoever runs it (a stack, `fengqiao/stack.py`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Running(Protocol):
    name: str
    port: int

    async def stop(self) -> None: ...


@runtime_checkable
class Reloadable(Protocol):
    """A service that can take new configuration (its files) without a restart: SIGHUP."""

    async def reload(self) -> None: ...
