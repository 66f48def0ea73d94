"""TriageService: ask the policy directly (dry run) and read which policy is in force."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import grpc
from nats.js import JetStreamContext

from fengqiao.domain.errors import FieldViolation, InvalidArgument
from fengqiao.domain.validation import validate_dispute
from fengqiao.domain.vocabulary import SUBMITTED, TRIGGERS
from fengqiao.platform.convert import (
    context_from_proto,
    decision_to_proto,
    dispute_from_proto,
    timestamp,
)
from fengqiao.platform.policies import PolicyStore, PublishedVersion, source_of
from fengqiao.policy import parse_policy
from fengqiao.triage.runner import PolicyRunner
from fengqiao.v1 import triage_pb2, triage_pb2_grpc


class TriageServicer(triage_pb2_grpc.TriageServiceServicer):
    def __init__(self, runner: PolicyRunner, store: PolicyStore, js: JetStreamContext) -> None:
        self._runner = runner
        self._store = store
        self._js = js

    async def Evaluate(
        self, request: triage_pb2.EvaluateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> triage_pb2.EvaluateResponse:
        dispute = dispute_from_proto(request.dispute)
        validate_dispute(dispute)
        trigger = request.event.strip() or SUBMITTED
        if trigger not in TRIGGERS:
            raise InvalidArgument(
                [FieldViolation("event", f"未知的事件 {trigger!r}（unknown event; use one of: "
                                         f"{', '.join(TRIGGERS)}）")]
            )  # fmt: skip
        decision, trace = await self._runner.explain(
            dispute, context_from_proto(request.context), datetime.now(UTC), trigger
        )
        return triage_pb2.EvaluateResponse(
            decision=decision_to_proto(decision),
            trace=[
                triage_pb2.RuleTrace(
                    rule_id=t.rule_id,
                    title=t.title,
                    matched=t.matched,
                    conditions=[
                        triage_pb2.ConditionTrace(
                            field=c.fact,
                            expected=c.expected,
                            actual=c.actual,
                            satisfied=c.satisfied,
                        )
                        for c in t.conditions
                    ],
                )
                for t in trace
            ],
        )

    async def GetPolicy(
        self, request: triage_pb2.GetPolicyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> triage_pb2.GetPolicyResponse:
        """The version in force here, or any published one, with its text and who
        published it when and why."""
        published: PublishedVersion | None
        if request.version.strip():
            published = await self._store.resolve(self._js, request.version)
            policy = await asyncio.to_thread(
                parse_policy, published.text, source_of(published.version)
            )
        else:
            policy = self._runner.policy
            published = await self._store.get(policy.version)
        active = await self._store.active()
        response = triage_pb2.GetPolicyResponse(
            version=policy.version,
            label=policy.label,
            rule_ids=[r.id for r in policy.rules],
            active=active is not None and active.version == policy.version,
        )
        if published is not None:
            response.text = published.text.decode("utf-8", errors="replace")
            response.published_by = published.published_by
            if (published_at := timestamp(published.published_at)) is not None:
                response.published_at.CopyFrom(published_at)
            response.comment = published.comment
        return response
