"""Runs the compiled policy on its one engine thread, as durable_rules requires, and swaps
in a new policy version atomically."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import structlog

from fengqiao.domain.model import Decision, Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.policy import CompiledPolicy, Policy, RuleTrace, load_policy

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
        )
        return cls(compiled, executor)

    @property
    def policy(self) -> Policy:
        return self._compiled.policy

    async def decide(
        self, dispute: Dispute, context: PolicyContext, now: datetime, trigger: str = SUBMITTED
    ) -> Decision:
        compiled = self._compiled
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, compiled.decide, dispute, context, now, trigger
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
