"""Triage consumers. A new dispute is routed; a recorded event or a timer may move it up
the ladder (限期调处、逐级上交); closing cancels its timers and schedules the follow-up
visit. Every change is a compare-and-set on the record, keyed by the fact that caused
it, so a redelivered message changes nothing twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from nats.aio.msg import Msg

from fengqiao.domain.errors import RejectMessage
from fengqiao.domain.kinds import DECIDED, EventKind
from fengqiao.domain.lifecycle import CLOSING, ESCALATING, assign
from fengqiao.domain.model import DisputeRecord, PolicyContext, Route, Status
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.platform import redact, timers
from fengqiao.platform.bus import Bus, publish_event
from fengqiao.platform.codec import decode
from fengqiao.platform.convert import decision_to_proto, dispute_to_proto, route_to_proto, timestamp
from fengqiao.platform.logs import bound
from fengqiao.platform.store import DisputeStore, Kept, Stored
from fengqiao.policy.deadlines import due
from fengqiao.triage.repeats import RepeatCounter
from fengqiao.triage.runner import PolicyRunner
from fengqiao.v1 import events_pb2

log = structlog.get_logger()


def assignment_event_id(dispute_id: str, step: int) -> str:
    return f"{EventKind.ROUTED}-{dispute_id}-{step}"


class TriageWorker:
    def __init__(self, bus: Bus, runner: PolicyRunner) -> None:
        self._bus = bus
        self._store = DisputeStore(bus)
        self._repeats = RepeatCounter(bus.repeats)
        self._runner = runner

    # -- a new dispute --------------------------------------------------------------------

    async def handle_submitted(self, msg: Msg) -> None:
        event = _decode(msg, {EventKind.SUBMITTED})
        with bound(dispute_id=event.dispute_id), redact.about(event.dispute):
            found = await self._store.read(event.dispute_id)
            kept = Kept(found.record, None)
            if kept.record.status is Status.RECEIVED:
                kept = await self._route(found)
            if kept.record.step >= 1 and not kept.record.status.closed:
                await self._announce(kept)

    async def _route(self, found: Stored) -> Kept:
        record = found.record
        now = datetime.now(UTC)
        compiled = self._runner.current  # this decision finishes on it, whatever is activated
        timing = compiled.policy.timing
        similar, party = await self._repeats.counts(
            record, timing.repeat_window_days, remember=True
        )
        context = PolicyContext(similar_recent=similar, party_recent=party)
        decision = await self._runner.decide(record.dispute, context, now, compiled=compiled)
        event_id = assignment_event_id(record.id, 1)

        def apply(current: DisputeRecord) -> DisputeRecord | None:
            if current.status is not Status.RECEIVED:
                return None  # another delivery got here first, or it was withdrawn
            return assign(
                current,
                decision,
                trigger=SUBMITTED,
                event_id=event_id,
                response_due=due(now, timing.response),
                context=context,
            )

        kept = await self._store.change(record.id, apply, start=found)
        if kept.record.decision == decision:
            log.info(
                "dispute_routed",
                rule_id=decision.rule_id,
                route=decision.route.value,
                priority=decision.priority.value,
                deadline=decision.deadline.isoformat(),
                reason=decision.reason,
                policy_version=decision.policy_version,
                similar_recent=similar,
                party_recent=party,
            )
            self._runner.warn_if_estimated(decision, record.dispute)
        return kept

    # -- recorded events ------------------------------------------------------------------

    async def handle_event(self, msg: Msg) -> None:
        event = _decode(msg, None)
        with bound(dispute_id=event.dispute_id), redact.about(event.dispute):
            if event.kind in ESCALATING:
                await self._escalate(event.dispute_id, event.kind, event.step, event.event_id)
            elif event.kind == EventKind.ACCEPTED:
                await timers.cancel(self._bus.js, timers.RESPONSE, f"{event.dispute_id}.*")
            elif event.kind in CLOSING:
                await self._closed(event)

    async def _closed(self, event: events_pb2.DisputeEvent) -> None:
        # Acknowledgement timers too (notification's): nobody is reminded of a closed
        # dispute, and its timer would find that out only when it fired.
        for timer in (timers.DEADLINE, timers.RESPONSE, timers.NEAR, timers.ACK):
            await timers.cancel(self._bus.js, timer, f"{event.dispute_id}.>")
        if event.kind == EventKind.WITHDRAWN:
            return
        record = await self._store.require(event.dispute_id)
        if record.closed_at is not None and record.decision is not None:
            # The closing step's own version says when the follow-up visit is due.
            timing = (await self._runner.policy_of(record.decision.policy_version)).timing
            at = due(record.closed_at, timing.follow_up_after)
            await self._schedule(timers.FOLLOWUP, record, at)

    # -- timers -------------------------------------------------------------------------

    async def handle_timer(self, msg: Msg) -> None:
        event = _decode(msg, {EventKind.DEADLINE_EXPIRED, EventKind.RESPONSE_EXPIRED})
        with bound(dispute_id=event.dispute_id), redact.about(event.dispute):
            record = await self._store.require(event.dispute_id)
            if event.kind == EventKind.RESPONSE_EXPIRED and record.status is not Status.ROUTED:
                log.info(
                    "timer_ignored",
                    timer=event.kind,
                    step=event.step,
                    reason=EventKind.ACCEPTED.value,
                )
                return
            await self._escalate(event.dispute_id, event.kind, event.step, event.event_id)

    # -- up the ladder ------------------------------------------------------------------

    async def _escalate(self, dispute_id: str, trigger: str, step: int, cause: str) -> None:
        """Apply the policy's escalation for `trigger` if the dispute is still on `step`."""
        event_id = f"{EventKind.ESCALATED}-{cause}"
        found = await self._store.read(dispute_id)
        record = found.record
        if record.has_event(event_id):
            await self._announce(Kept(record, None))  # redelivered after the change: again
            return
        if record.status.closed or record.step != step or record.status is Status.RECEIVED:
            log.info(
                "escalation_skipped",
                trigger=trigger,
                step=step,
                current_step=record.step,
                status=record.status.value,
            )
            return
        now = datetime.now(UTC)
        # The step ending kept the version it was decided under; the next takes the one
        # in force now, and keeps it to the end of this decision.
        compiled = self._runner.current
        timing = compiled.policy.timing
        similar, party = await self._repeats.counts(
            record, timing.repeat_window_days, remember=False
        )
        context = PolicyContext(
            current_level=record.level,
            times_escalated=record.step - 1,
            similar_recent=similar,
            party_recent=party,
        )
        decision = await self._runner.decide(record.dispute, context, now, trigger, compiled)

        def apply(current: DisputeRecord) -> DisputeRecord | None:
            if current.has_event(event_id) or current.step != step or current.status.closed:
                return None
            return assign(
                current,
                decision,
                trigger=trigger,
                event_id=event_id,
                response_due=due(now, timing.response),
                context=context,
            )

        kept = await self._store.change(dispute_id, apply, start=found)
        stored = kept.record
        if not stored.has_event(event_id):
            return
        if stored.decision == decision:
            log.info(
                "dispute_escalated",
                trigger=trigger,
                from_route=record.level.value if record.level else "",
                route=decision.route.value,
                rule_id=decision.rule_id,
                step=stored.step,
                handler=decision.handler,
                reason=decision.reason,
                policy_version=decision.policy_version,
            )
            self._runner.warn_if_estimated(decision, record.dispute)
            for timer in (timers.DEADLINE, timers.RESPONSE, timers.NEAR):
                await timers.cancel(self._bus.js, timer, f"{dispute_id}.{step}")
        await self._announce(kept)

    async def _announce(self, kept: Kept) -> None:
        """Publish the current assignment and schedule its timers; repeats are deduplicated
        by message id, and stale timers are ignored when they fire. The event carries the
        record as just written, when it was, for notification to append to."""
        record = kept.record
        decision = record.decision
        if decision is None or record.response_due is None:
            return
        previous = _previous_level(record)
        near = decision.decided_at + (decision.deadline - decision.decided_at) * timers.NEAR_SHARE
        timed = [(timers.DEADLINE, decision.deadline), (timers.NEAR, near)]
        if record.accepted_at is None:
            timed.append((timers.RESPONSE, record.response_due))
        announced = publish_event(
            self._bus.js,
            events_pb2.DisputeEvent(
                event_id=assignment_event_id(record.id, record.step),
                dispute_id=record.id,
                kind=EventKind.ROUTED if record.step == 1 else EventKind.ESCALATED,
                at=timestamp(decision.decided_at),
                dispute=dispute_to_proto(record.dispute),
                decision=decision_to_proto(decision),
                step=record.step,
                from_route=route_to_proto(previous),
                respond_by=timestamp(record.response_due),
                record=kept.written[0] if kept.written else b"",
                record_revision=kept.written[1] if kept.written else 0,
            ),
        )
        # Independent writes: the round trips overlap instead of adding up.
        await asyncio.gather(announced, *(self._schedule(t, record, at) for t, at in timed))

    async def _schedule(self, timer: str, record: DisputeRecord, at: datetime) -> None:
        key, event = timers.step_timer(timer, record.id, record.step)
        await timers.schedule(self._bus.js, timer, key, event, at)


def _decode(msg: Msg, kinds: set[str] | None) -> events_pb2.DisputeEvent:
    event = decode(msg.data, events_pb2.DisputeEvent())
    if not event.dispute_id or (kinds is not None and event.kind not in kinds):
        raise RejectMessage(f"triage cannot handle a {event.kind!r} event on {msg.subject}")
    return event


def _previous_level(record: DisputeRecord) -> Route | None:
    for entry in reversed(record.timeline):
        if entry.kind in DECIDED:
            return entry.from_route
    return None
