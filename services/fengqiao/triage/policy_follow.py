"""Triage decides with the policy version the bus names active (`platform/policies.py`),
and every replica switches when it changes: each watches the `active` key and compiles
the new version on its engine thread before it swaps it in. A version with problems is
refused (`policy_activation_failed`) and the one in force stays.

The rules file triage is started with (`FENGQIAO_POLICY_FILE`) is only the first version:
on a bus with no active version it is published and activated (`bootstrap`); afterwards a
new file goes live only through `fengqiao rules publish`. The active key is also read
every `RESYNC_SECONDS`, and on SIGHUP, in case a watch missed a change; the file is not
read again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import nats.errors
import structlog

from fengqiao.platform.bus import BUS_UNAVAILABLE
from fengqiao.platform.policies import (
    BOOTSTRAP,
    Activation,
    PolicyStore,
    PublishedVersion,
    source_of,
)
from fengqiao.policy import PolicyError, parse_policy, policy_version, read_policy_file
from fengqiao.triage.runner import PolicyRunner

log = structlog.get_logger()

# After the watch fails (the server restarting, say), before it is set up again.
WATCH_RETRY_SECONDS = 1.0
# How often the active key is read besides the watch: one KV read per replica.
RESYNC_SECONDS = 15.0
BOOTSTRAPPED_BY = "triage"
_WATCH_ERRORS: tuple[type[Exception], ...] = (nats.errors.Error, *BUS_UNAVAILABLE)


async def start_runner(store: PolicyStore, file: Path) -> PolicyRunner:
    """A runner on the version active on the bus. On a bus with none, `file` is published
    and activated first; if another replica did so meanwhile, its version is taken."""
    active = await store.active()
    if active is None:
        await _bootstrap(store, file)
        active = await store.active()
    if active is not None:
        published = await store.get(active.version)
        if published is not None:
            try:
                runner = await PolicyRunner.start(
                    published.text, source_of(active.version), store.text
                )
            except PolicyError as exc:
                log.error(
                    "policy_activation_failed",
                    refused_version=active.version,
                    problems=[p.format(exc.source) for p in exc.problems],
                    fallback=str(file),
                )
            else:
                _say_if_file_differs(file, active.version)
                return runner
    return await PolicyRunner.start(read_policy_file(file), str(file), store.text)


async def _bootstrap(store: PolicyStore, file: Path) -> None:
    data = read_policy_file(file)
    policy = parse_policy(data, str(file))  # refuses a file with problems, each one located
    now = datetime.now(UTC)
    await store.publish(
        PublishedVersion(
            version=policy.version,
            label=policy.label,
            text=data,
            published_by=BOOTSTRAPPED_BY,
            published_at=now,
            comment=f"启动时的规则文件 {file}（bootstrap）",
        )
    )
    won = await store.activate(
        Activation(policy.version, BOOTSTRAP, BOOTSTRAPPED_BY, now, f"{file}"),
        only_if_none=True,
    )
    if won:
        log.info("policy_bootstrapped", policy_version=policy.version, file=str(file))


def _say_if_file_differs(file: Path, active: str) -> None:
    try:
        version = policy_version(file.read_bytes())
    except OSError:
        return
    if version != active:
        log.info(
            "policy_file_not_active",
            file=str(file),
            file_version=version,
            policy_version=active,
            hint="the bus has an active version; publish the file with `fengqiao rules publish`",
        )


class PolicyFollower:
    def __init__(
        self, store: PolicyStore, runner: PolicyRunner, resync_seconds: float = RESYNC_SECONDS
    ) -> None:
        self._store = store
        self._runner = runner
        self._resync_seconds = resync_seconds

    async def apply(self, activation: Activation) -> bool:
        """Put `activation`'s version in force, unless it is already or has problems."""
        if activation.version == self._runner.current.version:
            return True
        why = {
            "action": activation.action,
            "activated_by": activation.activated_by,
            "comment": activation.comment,
        }
        published = await self._store.get(activation.version)
        if published is None:
            log.error(
                "policy_activation_failed",
                refused_version=activation.version,
                policy_version=self._runner.current.version,
                problems=["no such published version"],
                **why,
            )
            return False
        return await self._runner.activate(published.text, source_of(activation.version), **why)

    async def sync(self) -> None:
        """Read the active version once more and put it in force (SIGHUP)."""
        active = await self._store.active()
        if active is not None:
            await self.apply(active)

    async def follow(self) -> None:
        """Apply every activation as it happens, until cancelled. Beside the watch, the
        active key is read again every `resync_seconds`: a watch is an ordered consumer
        without heartbeats, and one whose consumer the server lost (a restart of an
        ephemeral consumer's server) would otherwise wait in silence."""
        resync = asyncio.create_task(self._resync(), name="policy-resync")
        try:
            while True:
                try:
                    async for activation in self._store.watch():
                        await self.apply(activation)
                except _WATCH_ERRORS as exc:
                    log.warning("policy_watch_failed", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(WATCH_RETRY_SECONDS)
        finally:
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self._resync_seconds)
            try:
                await self.sync()
            except _WATCH_ERRORS as exc:
                log.warning("policy_watch_failed", error=str(exc) or type(exc).__name__)
