"""The compiled form of a rules file: plain frozen values, no engine, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from fengqiao.domain.model import Priority, Route
from fengqiao.policy.conditions import Condition


class DeadlineUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WORKING_DAYS = "working_days"


@dataclass(frozen=True, slots=True)
class Deadline:
    amount: int
    unit: DeadlineUnit

    def describe(self) -> str:
        unit = {"hours": "小时", "days": "日", "working_days": "个工作日"}[self.unit.value]
        return f"{self.amount}{unit}"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    route: Route
    label: str
    deadline: Deadline
    handler: str
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    conditions: tuple[Condition, ...]
    route: Route
    priority: Priority
    reason: str
    deadline: Deadline | None = None
    handler: str = ""
    notify: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    """A checked policy. `version` is the SHA-256 of the file's bytes."""

    label: str
    version: str
    source: str
    routes: Mapping[Route, RouteSpec]
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
