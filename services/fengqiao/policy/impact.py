"""What an edit to the rules file would change: every known dispute (the policy test cases
and the sample submissions) decided by the policy in force and by the edited one, and
each difference said in words. Pure: the caller reads the files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fengqiao.domain.model import Decision, local_minute
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, label
from fengqiao.policy.cases import Case
from fengqiao.policy.compiled import CompiledPolicy

_PRIORITY = {"normal": "一般", "urgent": "紧急"}


def _roles(roles: tuple[str, ...]) -> str:
    return "、".join(label(RECIPIENT_ROLES, r) for r in roles) or "无"


# What people see of a decision, aspect by aspect.
_SHOWN: tuple[tuple[str, Callable[[Decision], str]], ...] = (
    ("命中规则", lambda d: d.rule_id),
    ("去向", lambda d: f"{d.route_label}（{d.route}）"),
    ("承办", lambda d: d.handler_label),
    ("优先级", lambda d: _PRIORITY[d.priority]),
    ("办理期限", lambda d: local_minute(d.deadline)),
    ("通知", lambda d: _roles(d.notify)),
)


@dataclass(frozen=True, slots=True)
class Change:
    case: Case
    before: Decision
    after: Decision
    # Each way the decision differs, in Chinese (codes in brackets where useful).
    differences: tuple[str, ...]


def differences(before: Decision, after: Decision) -> tuple[str, ...]:
    b, a = before, after
    out = [f"{name} {show(b)} → {show(a)}" for name, show in _SHOWN if show(b) != show(a)]
    if b.reason != a.reason:
        out.append(f"告知说明改为：{a.reason}")
    return tuple(out)


def impact(old: CompiledPolicy, new: CompiledPolicy, cases: Iterable[Case]) -> list[Change]:
    """The cases whose decision differs between `old` and `new`, in the given order."""
    out = []
    for case in cases:
        before = old.decide(case.dispute, case.context, case.at, case.trigger)
        after = new.decide(case.dispute, case.context, case.at, case.trigger)
        if said := differences(before, after):
            out.append(Change(case, before, after, said))
    return out
