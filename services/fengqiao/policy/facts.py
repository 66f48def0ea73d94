"""The facts a rule can read: what each one means, and how a dispute becomes them.

Both evaluators (durable_rules and the plain-Python explainer) read the same flat
`Facts` mapping built here, so they cannot disagree about what a dispute *is*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from fengqiao.domain.model import Dispute, PolicyContext
from fengqiao.domain.vocabulary import CATEGORIES, CHANNELS, RISK_FLAGS, SUBMITTED, TRIGGERS

FactValue = str | int | bool | tuple[str, ...]
Facts = Mapping[str, FactValue]

# `level` of a dispute that has not been routed yet.
NEW_LEVEL: Final = "new"
LEVELS: Final = MappingProxyType(
    {
        NEW_LEVEL: "新受理",
        "local": "就地化解",
        "street_office": "街道联合调解",
        "court_fast_track": "诉调对接速裁",
    }
)


class Kind(StrEnum):
    CODE = "code"  # one code from a vocabulary
    CODES = "codes"  # a set of codes from a vocabulary
    TEXT = "text"  # a name compared as a whole
    PROSE = "prose"  # free text searched for words
    PLACE = "place"  # district/street/community/grid, matched by prefix
    COUNT = "count"  # a whole number
    MONEY = "money"  # yuan in the rules file, fen in the facts
    FLAG = "flag"  # yes / no


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    label: str
    kind: Kind
    vocabulary: Mapping[str, str] | None = None
    # False for facts set by the policy's own structure (`on:`/`from:` of escalation).
    in_when: bool = True


_SPECS = (
    FactSpec("category", "纠纷类别", Kind.CODE, CATEGORIES),
    FactSpec("channel", "受理渠道", Kind.CODE, CHANNELS),
    FactSpec("amount", "涉及金额", Kind.MONEY),
    FactSpec("risk_flags", "风险标记", Kind.CODES, RISK_FLAGS),
    FactSpec("summary", "简要情况", Kind.PROSE),
    FactSpec("parties", "当事人数", Kind.COUNT),
    FactSpec("court_consent", "当事人同意诉调对接", Kind.FLAG),
    FactSpec("location", "发生地", Kind.PLACE),
    FactSpec("district", "区县", Kind.TEXT),
    FactSpec("street", "街道/乡镇", Kind.TEXT),
    FactSpec("community", "社区/村", Kind.TEXT),
    FactSpec("grid", "网格", Kind.TEXT),
    FactSpec("level", "当前层级", Kind.CODE, LEVELS),
    FactSpec("times_escalated", "已升级次数", Kind.COUNT),
    FactSpec("similar_recent", "本网格近期同类纠纷数", Kind.COUNT),
    FactSpec("party_recent", "同一当事人近期纠纷数", Kind.COUNT),
    FactSpec("trigger", "触发事件", Kind.CODE, TRIGGERS, in_when=False),
)
FACTS: Final = MappingProxyType({spec.name: spec for spec in _SPECS})
PLACE_PARTS: Final = ("district", "street", "community", "grid")


def build_facts(
    dispute: Dispute, context: PolicyContext, trigger: str = SUBMITTED
) -> dict[str, FactValue]:
    """The facts of one dispute in its context. Money is in fen here."""
    loc = dispute.location
    return {
        "category": dispute.category,
        "channel": dispute.channel,
        "amount": dispute.amount_fen,
        "risk_flags": tuple(dispute.risk_flags),
        "summary": dispute.summary,
        "parties": len(dispute.parties),
        "court_consent": dispute.court_mediation_consent,
        "location": loc.path(),
        "district": loc.district,
        "street": loc.street,
        "community": loc.community,
        "grid": loc.grid,
        "level": context.current_level.value if context.current_level else NEW_LEVEL,
        "times_escalated": context.times_escalated,
        "similar_recent": context.similar_recent,
        "party_recent": context.party_recent,
        "trigger": trigger,
    }


def describe_value(spec: FactSpec, value: FactValue) -> str:
    """A fact's value as a person reads it."""
    if spec.kind is Kind.MONEY and isinstance(value, int) and not isinstance(value, bool):
        yuan, fen = divmod(value, 100)
        return f"{yuan}元" if fen == 0 else f"{yuan}.{fen:02d}元"
    if spec.kind is Kind.FLAG:
        return "是" if value else "否"
    if spec.kind is Kind.PROSE and isinstance(value, str) and len(value) > 40:
        return value[:40] + "…"
    if isinstance(value, tuple):
        if not value:
            return "无"
        return "、".join(_label(spec, v) for v in value)
    return _label(spec, str(value)) if spec.vocabulary is not None else str(value)


def _label(spec: FactSpec, code: str) -> str:
    return spec.vocabulary.get(code, code) if spec.vocabulary is not None else code
