"""A dispute's decided steps, each with what the policy read when it was decided, read off
its timeline: the first routing and every escalation, to decide again exactly as they
were (`fengqiao rules explain --dispute`) or under a draft (`fengqiao rules replay`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from fengqiao.domain.kinds import DECIDED
from fengqiao.domain.model import Dispute, DisputeRecord, PolicyContext, Route, TimelineEntry
from fengqiao.domain.vocabulary import SUBMITTED


@dataclass(frozen=True, slots=True)
class Step:
    number: int  # 1 for the first routing
    trigger: str
    dispute: Dispute  # as it was then: the risk flags it had
    context: PolicyContext
    at: datetime
    policy_version: str
    rule_id: str
    route: Route | None
    # False for steps recorded before contexts were kept: counts read as 0.
    exact: bool


def steps_of(record: DisputeRecord) -> list[Step]:
    """Every routed or escalated step of `record`, in order."""
    out: list[Step] = []
    for entry in record.timeline:
        if entry.kind in DECIDED:
            out.append(_step(record.dispute, entry, len(out) + 1))
    return out


def _step(dispute: Dispute, entry: TimelineEntry, number: int) -> Step:
    c = entry.context
    return Step(
        number=number,
        trigger=entry.trigger or SUBMITTED,
        dispute=dispute if c is None else replace(dispute, risk_flags=c.risk_flags),
        context=PolicyContext(
            current_level=entry.from_route,
            # Before this decision: 0 for the routing and the first escalation.
            times_escalated=c.times_escalated if c is not None else max(number - 2, 0),
            similar_recent=c.similar_recent if c is not None else 0,
            party_recent=c.party_recent if c is not None else 0,
        ),
        at=entry.at,
        policy_version=entry.policy_version,
        rule_id=entry.rule_id,
        route=entry.route,
        exact=c is not None,
    )
