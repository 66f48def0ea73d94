"""The compiled form of a rules file: plain frozen values, no engine, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from fengqiao.domain.model import Priority, Route
from fengqiao.policy.conditions import AmountTier, Condition


class DeadlineUnit(StrEnum):
    # Seconds and minutes are for drills and tests of the escalation ladder.
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WORKING_DAYS = "working_days"


_UNIT_WORDS = {
    "seconds": "秒", "minutes": "分钟", "hours": "小时", "days": "日", "working_days": "个工作日",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deadline:
    amount: int
    unit: DeadlineUnit

    def describe(self) -> str:
        return f"{self.amount}{_UNIT_WORDS[self.unit.value]}"

    def for_amount(self, amount_fen: int) -> Deadline:
        return self


@dataclass(frozen=True, slots=True)
class AmountBand:
    """Applies to amounts below `below_fen`; `None` is the band for every larger amount."""

    below_fen: int | None
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class AmountBands:
    """Deadlines by amount in dispute, bands ascending, the last one open-ended."""

    bands: tuple[AmountBand, ...]

    def for_amount(self, amount_fen: int) -> Deadline:
        for band in self.bands:
            if band.below_fen is None or amount_fen < band.below_fen:
                return band.deadline
        return self.bands[-1].deadline

    def describe(self) -> str:
        return "按金额分档"


DeadlineRule = Deadline | AmountBands


@dataclass(frozen=True, slots=True)
class RouteSpec:
    route: Route
    label: str
    deadline: DeadlineRule
    handler: str
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A routing rule, or an escalation rule (whose conditions include the trigger and the
    level it applies from)."""

    id: str
    title: str
    conditions: tuple[Condition, ...]
    route: Route
    priority: Priority
    reason: str
    deadline: DeadlineRule | None = None
    handler: str = ""
    notify: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class Timing:
    """The policy's clocks besides each route's deadline."""

    # A routed dispute must be accepted within this (第一时间响应), or it escalates.
    response: Deadline = Deadline(24, DeadlineUnit.HOURS)
    # After it closes, the follow-up visit (回访) is due after this.
    follow_up_after: Deadline = Deadline(7, DeadlineUnit.DAYS)
    # Similar disputes (same grid and category, or same party) count within this window.
    repeat_window_days: int = 30


@dataclass(frozen=True, slots=True)
class Policy:
    """A checked policy. `version` is the SHA-256 of the file's bytes."""

    label: str
    version: str
    source: str
    routes: Mapping[Route, RouteSpec]
    rules: tuple[Rule, ...]
    escalation: tuple[Rule, ...] = ()
    timing: Timing = Timing()
    # The amount table (`amount_tiers`) that `tier` conditions and `by_tier` deadlines read.
    amount_tiers: tuple[AmountTier, ...] = ()

    def all_rules(self) -> tuple[Rule, ...]:
        return self.rules + self.escalation
