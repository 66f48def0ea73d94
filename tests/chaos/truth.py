"""The counts of a chaos run, from the record of truth — the `disputes` and
`notifications` buckets and the dead-letter stream, read over NATS — and from what the
receiver answered. `run.py`'s docstring defines each count."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext

from fengqiao.notification.dead_letters import list_dead_letters
from fengqiao.platform.bus import KV_DISPUTES, KV_NOTIFICATIONS, kv_values
from fengqiao.platform.convert import status_from_proto
from fengqiao.platform.timers import DEADLINE, KIND_OF_TIMER
from fengqiao.triage.worker import assignment_event_id
from fengqiao.v1 import dispute_pb2, notification_pb2

DECIDED = ("routed", "escalated")
DEADLINE_EXPIRED = KIND_OF_TIMER[DEADLINE]
# An open step whose deadline passed longer ago than this, still undecided, missed it.
MISSED_AFTER_SECONDS = 10.0


@dataclass(frozen=True)
class Truth:
    records: dict[str, dispute_pb2.DisputeRecord]
    notifications: set[str]
    dead_letters: set[str]


async def read_truth(js: JetStreamContext, attempts: int = 5) -> Truth:
    """The buckets and dead letters as they are now. On a cluster a scan can meet a
    stream whose leader is still settling after the faults (503 to the ephemeral
    consumer): it is read again, a few times."""
    for attempt in range(1, attempts + 1):
        try:
            return await _read(js)
        except (TimeoutError, nats.errors.Error):
            if attempt == attempts:
                raise
            await asyncio.sleep(attempt)  # a backoff before the next scan
    raise AssertionError("unreachable")


async def _read(js: JetStreamContext) -> Truth:
    records = {}
    for data in await kv_values(js, KV_DISPUTES):
        record = dispute_pb2.DisputeRecord()
        record.ParseFromString(data)
        records[record.dispute.id] = record
    notifications = set()
    for data in await kv_values(js, KV_NOTIFICATIONS):
        n = notification_pb2.Notification()
        n.ParseFromString(data)
        notifications.add(n.id)
    letters = {d.notification_id for d in await list_dead_letters(js)}
    return Truth(records, notifications, letters)


@dataclass(frozen=True)
class Counts:
    accepted: int
    stored: int
    routed: int
    lost: int
    doubled: int
    twins: int
    untold: int
    notifications: int
    delivered: int
    lost_deliveries: int
    duplicate_deliveries: int
    dead_letters: int
    stranded: int
    # Escalations a deadline timer caused, and open steps past their deadline.
    deadline_escalations: int
    missed_deadlines: int
    drain_s: float | None

    def failures(self) -> list[str]:
        """Each count that makes the run fail, named."""
        bad = {
            "lost": self.lost,
            "doubled": self.doubled,
            "twins": self.twins,
            "untold": self.untold,
            "lost deliveries": self.lost_deliveries,
            "stranded": self.stranded,
            "missed deadlines": self.missed_deadlines,
        }
        out = [f"{name} {value}" for name, value in bad.items() if value]
        if self.drain_s is None:
            out.append("not drained")
        return out

    def line(self) -> str:
        drain = f"{self.drain_s:.1f} s" if self.drain_s is not None else "not within the bound"
        return (
            f"accepted {self.accepted}, routed {self.routed}, lost {self.lost}, "
            f"doubled {self.doubled}, notifications {self.notifications}, "
            f"delivered {self.delivered}, lost deliveries {self.lost_deliveries}, "
            f"duplicate deliveries {self.duplicate_deliveries}, "
            f"dead letters {self.dead_letters}, stranded {self.stranded}, "
            f"twins {self.twins}, untold {self.untold}, "
            f"deadline escalations {self.deadline_escalations}, "
            f"missed deadlines {self.missed_deadlines}, drain {drain}"
        )


def decided_twice(record: dispute_pb2.DisputeRecord) -> bool:
    """One step decided more than once: a decision's event id twice in the timeline, two
    first routings, or more decisions than steps."""
    decisions = [e for e in record.timeline if e.kind in DECIDED]
    ids = [e.event_id for e in decisions]
    first = sum(e.kind == "routed" for e in decisions)
    return len(ids) != len(set(ids)) or first > 1 or len(decisions) != record.step


def past_deadline(record: dispute_pb2.DisputeRecord, now: float, grace: float = 0.0) -> bool:
    """Still open at a step whose deadline passed more than `grace` seconds before `now`
    (seconds since 1970): its deadline timer has not decided the next step."""
    status = status_from_proto(record.status)
    if status is None or status.closed or not record.HasField("decision"):
        return False
    return record.decision.deadline.seconds < now - grace


def told(record: dispute_pb2.DisputeRecord) -> bool:
    """Every step's recipients recorded: a `notified` entry per decision."""
    seen = {e.event_id for e in record.timeline if e.kind == "notified"}
    return all(
        f"notified-{assignment_event_id(record.dispute.id, step)}" in seen
        for step in range(1, record.step + 1)
    )


def count(
    accepted: Iterable[str],
    truth: Truth,
    answered: Mapping[str, int],
    drain_s: float | None,
) -> Counts:
    """`accepted`: the dispute ids callers were given; `answered`: per notification id,
    how many deliveries the receiver answered 200."""
    accepted_ids = set(accepted)
    records = truth.records
    routed = {i for i, r in records.items() if r.HasField("decision") and r.step >= 1}
    by_request = Counter(r.request_id for r in records.values())
    delivered = {n for n in truth.notifications if answered.get(n, 0) > 0}
    return Counts(
        accepted=len(accepted_ids),
        stored=len(records),
        routed=len(routed),
        lost=len(accepted_ids - routed),
        doubled=sum(decided_twice(r) for r in records.values()),
        twins=sum(n - 1 for n in by_request.values() if n > 1),
        untold=sum(not told(records[i]) for i in routed),
        notifications=len(truth.notifications),
        delivered=len(delivered),
        lost_deliveries=len(truth.notifications - delivered - truth.dead_letters),
        duplicate_deliveries=sum(max(answered.get(n, 0) - 1, 0) for n in truth.notifications),
        dead_letters=len(truth.dead_letters),
        stranded=len(records.keys() - routed),
        deadline_escalations=sum(
            e.kind == "escalated" and e.trigger == DEADLINE_EXPIRED
            for r in records.values()
            for e in r.timeline
        ),
        missed_deadlines=sum(
            past_deadline(r, time.time(), MISSED_AFTER_SECONDS) for r in records.values()
        ),
        drain_s=drain_s,
    )
