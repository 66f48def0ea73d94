"""Runs the compiled policy on its one engine thread, as durable_rules requires, and swaps
in a new policy version atomically."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import structlog

from fengqiao.domain.calendar import calendar_known_until
from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.policy import (
    CompiledPolicy,
    Policy,
    PolicyError,
    RuleTrace,
    load_policy,
    parse_policy,
    policy_version,
)

log = structlog.get_logger()


class PolicyRunner:
    def __init__(self, compiled: CompiledPolicy, executor: ThreadPoolExecutor) -> None:
        self._compiled = compiled
        self._executor = executor

    @classmethod
    async def load(cls, path: Path) -> PolicyRunner:
        """Check and compile the rules file at `path` on a fresh engine thread."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-engine")
        loop = asyncio.get_running_loop()
        try:
            compiled = await loop.run_in_executor(executor, _compile, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        log.info(
            "policy_loaded",
            policy_version=compiled.version,
            label=compiled.policy.label,
            rules=len(compiled.policy.rules),
            file=str(path),
            calendar_known_until=calendar_known_until(),
        )
        return cls(compiled, executor)

    @property
    def policy(self) -> Policy:
        return self._compiled.policy

    async def reload(self, path: Path) -> bool:
        """Check and compile `path` on the engine thread and put it in force; decisions
        already under way finish on the old version. A file with problems changes
        nothing: False, and every problem logged."""
        loop = asyncio.get_running_loop()
        refused = ""
        try:
            data = await loop.run_in_executor(self._executor, path.read_bytes)
            refused = policy_version(data)
            compiled = await loop.run_in_executor(self._executor, _compile_bytes, data, str(path))
        except OSError as exc:
            problems = [f"{path}: cannot read: {exc}"]
        except PolicyError as exc:
            problems = [p.format(exc.source) for p in exc.problems]
        else:
            problems = []
        if problems:
            log.error(
                "policy_reload_failed",
                file=str(path),
                refused_version=refused,
                policy_version=self._compiled.version,
                problems=problems,
            )
            return False
        previous, self._compiled = self._compiled, compiled
        log.info(
            "policy_reloaded",
            policy_version=compiled.version,
            previous_version=previous.version,
            label=compiled.policy.label,
            rules=len(compiled.policy.rules),
            file=str(path),
            calendar_known_until=calendar_known_until(),
        )
        return True

    async def decide(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> Decision:
        compiled = self._compiled
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, compiled.decide, dispute, context, now, trigger
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
        decision = await self.decide(dispute, context, now, trigger)
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


def _compile(path: Path) -> CompiledPolicy:
    return CompiledPolicy(load_policy(path))


def _compile_bytes(data: bytes, source: str) -> CompiledPolicy:
    return CompiledPolicy(parse_policy(data, source))
