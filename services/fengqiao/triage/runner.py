"""Runs the compiled policy on its one engine thread, as durable_rules requires, and swaps
in a new policy version atomically: a decision takes the compiled policy in force when it
starts (`current`) and finishes with it, whatever is activated meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import structlog

from fengqiao.domain.calendar import calendar_known_until
from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.platform.policies import source_of
from fengqiao.policy import (
    CompiledPolicy,
    Policy,
    PolicyError,
    RuleTrace,
    parse_policy,
    policy_version,
)

log = structlog.get_logger()


# The text of a published version, or None if there is none by that SHA-256.
LoadVersion = Callable[[str], Awaitable[bytes | None]]


class PolicyRunner:
    def __init__(
        self, compiled: CompiledPolicy, executor: ThreadPoolExecutor, load: LoadVersion | None
    ) -> None:
        self._compiled = compiled
        self._executor = executor
        self._load = load
        # Versions read so far: an open dispute's step keeps its own version's clocks (the
        # follow-up delay) after a newer one is activated.
        self._known: dict[str, Policy] = {compiled.version: compiled.policy}

    @classmethod
    async def start(cls, data: bytes, source: str, load: LoadVersion | None = None) -> PolicyRunner:
        """Check and compile the rules file `data` (named `source`) on a fresh engine
        thread; `PolicyError` if it has problems. `load` reads other published versions
        (`policy_of`)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-engine")
        loop = asyncio.get_running_loop()
        try:
            compiled = await loop.run_in_executor(executor, _compile, data, source)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        log.info(
            "policy_loaded",
            policy_version=compiled.version,
            label=compiled.policy.label,
            rules=len(compiled.policy.rules),
            source=source,
            calendar_known_until=calendar_known_until(),
        )
        return cls(compiled, executor, load)

    @property
    def current(self) -> CompiledPolicy:
        """The compiled policy in force now: take it once per decision."""
        return self._compiled

    @property
    def policy(self) -> Policy:
        return self._compiled.policy

    async def policy_of(self, version: str) -> Policy:
        """The policy of published `version` (read once, checked, not compiled); the one in
        force if there is no such version or this code cannot read it."""
        known = self._known.get(version)
        if known is not None:
            return known
        data = await self._load(version) if self._load is not None and version else None
        if data is None:
            return self._compiled.policy
        try:
            policy = await asyncio.to_thread(parse_policy, data, source_of(version))
        except PolicyError:
            return self._compiled.policy
        self._known[version] = policy
        return policy

    async def activate(self, data: bytes, source: str, **why: Any) -> bool:
        """Check and compile `data` on the engine thread and put it in force; decisions
        already under way finish on the old version. A file with problems changes
        nothing: False, and every problem logged (`why` says where the version came
        from, in both log lines)."""
        refused = policy_version(data)
        if refused == self._compiled.version:
            return True
        loop = asyncio.get_running_loop()
        try:
            compiled = await loop.run_in_executor(self._executor, _compile, data, source)
        except PolicyError as exc:
            log.error(
                "policy_activation_failed",
                refused_version=refused,
                policy_version=self._compiled.version,
                problems=[p.format(exc.source) for p in exc.problems],
                **why,
            )
            return False
        previous, self._compiled = self._compiled, compiled
        self._known[compiled.version] = compiled.policy
        log.info(
            "policy_activated",
            policy_version=compiled.version,
            previous_version=previous.version,
            label=compiled.policy.label,
            rules=len(compiled.policy.rules),
            calendar_known_until=calendar_known_until(),
            **why,
        )
        return True

    async def decide(
        self,
        dispute: Dispute,
        context: PolicyContext,
        now: datetime,
        trigger: str = SUBMITTED,
        compiled: CompiledPolicy | None = None,
    ) -> Decision:
        """The decision of `compiled` (default: the policy in force now)."""
        policy = compiled or self._compiled
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, policy.decide, dispute, context, now, trigger
        )

    def warn_if_estimated(self, decision: Decision, dispute: Dispute) -> None:
        """Log when a working-day deadline had to count Monday to Friday for lack of the
        official calendar: the `chinesecalendar` package needs updating."""
        if self._compiled.deadline_estimated(decision, dispute):
            log.warning(
                "deadline_estimated",
                rule_id=decision.rule_id,
                deadline=decision.deadline.isoformat(),
                calendar_known_until=calendar_known_until(),
            )

    async def explain(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> tuple[Decision, tuple[RuleTrace, ...]]:
        """The live decision (durable_rules) with the plain-Python trace beside it."""
        compiled = self._compiled
        decision = await self.decide(dispute, context, now, trigger, compiled)
        explained, trace = compiled.explain(dispute, context, now, trigger)
        if explained.rule_id != decision.rule_id:
            log.error(
                "policy_evaluators_disagreed",
                engine_rule=decision.rule_id,
                explain_rule=explained.rule_id,
                policy_version=compiled.version,
            )
        return decision, trace

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def _compile(data: bytes, source: str) -> CompiledPolicy:
    return CompiledPolicy(parse_policy(data, source))
