"""Putting a new rules file in force without a restart: when its content changes (checked
every `FENGQIAO_POLICY_RELOAD_SECONDS`, which suits a Kubernetes ConfigMap), or on SIGHUP.

The policy version is the SHA-256 of the file, so "changed" means a new version; a file
with problems is tried once per version, logged, and the policy in force stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fengqiao.policy import policy_version
from fengqiao.triage.runner import PolicyRunner


class PolicyWatch:
    def __init__(self, runner: PolicyRunner, path: Path) -> None:
        self._runner = runner
        self._path = path
        self._refused: str | None = None

    async def check(self) -> None:
        """Reload the file if its version differs from the one in force and was not
        already refused."""
        try:
            version = policy_version(await asyncio.to_thread(self._path.read_bytes))
        except OSError:
            return  # mid-replacement, say; the next check sees the new file
        if version in (self._runner.policy.version, self._refused):
            return
        self._refused = None if await self._runner.reload(self._path) else version

    async def run(self, interval: float) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.check()
