"""Triage consumer: a submitted dispute is decided by the policy, the decision is written
into its record (compare-and-set) and published. Redelivery changes nothing twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg

from fengqiao.convert import decision_to_proto, decode, dispute_to_proto, encode, timestamp
from fengqiao.domain.model import DisputeRecord, PolicyContext, Status, TimelineEntry
from fengqiao.platform.bus import ROUTED, Bus
from fengqiao.platform.consume import RejectMessage
from fengqiao.platform.store import DisputeStore
from fengqiao.triage.runner import PolicyRunner
from fengqiao.v1 import events_pb2

log = structlog.get_logger()


class TriageWorker:
    def __init__(self, bus: Bus, runner: PolicyRunner) -> None:
        self._bus = bus
        self._store = DisputeStore(bus.disputes)
        self._runner = runner

    async def handle(self, msg: Msg) -> None:
        event = decode(msg.data, events_pb2.DisputeEvent())
        if event.kind != "submitted" or not event.dispute_id:
            raise RejectMessage(f"triage cannot handle a {event.kind!r} event")
        with structlog.contextvars.bound_contextvars(dispute_id=event.dispute_id):
            record = await self._store.require(event.dispute_id)
            if record.status is Status.RECEIVED:
                record = await self._route(record)
            await self._publish_routed(record)

    async def _route(self, record: DisputeRecord) -> DisputeRecord:
        now = datetime.now(UTC)
        decision = await self._runner.decide(record.dispute, PolicyContext(), now)
        entry = TimelineEntry(
            at=now,
            kind="routed",
            summary=f"分派至{decision.route_label}（规则 {decision.rule_id}）：{decision.reason}",
            rule_id=decision.rule_id,
            route=decision.route,
            policy_version=decision.policy_version,
            event_id=_routed_event_id(record.id),
        )

        def apply(current: DisputeRecord) -> DisputeRecord | None:
            if current.status is not Status.RECEIVED:
                return None  # another delivery got here first
            return replace(
                current,
                status=Status.ROUTED,
                decision=decision,
                timeline=(*current.timeline, entry),
            )

        stored = await self._store.update(record.id, apply)
        if stored.decision == decision:
            log.info(
                "dispute_routed",
                rule_id=decision.rule_id,
                route=decision.route.value,
                priority=decision.priority.value,
                deadline=decision.deadline.isoformat(),
                reason=decision.reason,
                policy_version=decision.policy_version,
            )
        return stored

    async def _publish_routed(self, record: DisputeRecord) -> None:
        if record.decision is None:
            return
        event = events_pb2.DisputeEvent(
            event_id=_routed_event_id(record.id),
            dispute_id=record.id,
            kind="routed",
            at=timestamp(record.decision.decided_at),
            dispute=dispute_to_proto(record.dispute),
            decision=decision_to_proto(record.decision),
        )
        await self._bus.js.publish(
            f"{ROUTED}.{record.id}", encode(event), headers={"Nats-Msg-Id": event.event_id}
        )


def _routed_event_id(dispute_id: str) -> str:
    return f"routed-{dispute_id}-1"
