"""One condition of a rule, in three forms that must agree: a test in plain Python
(`holds`), a durable_rules expression (`to_durable`), and words (`describe`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fengqiao.policy.facts import FACTS, PLACE_PARTS, Facts, Kind, describe_value

Scalar = str | int | bool
Json = dict[str, Any]


class Op(StrEnum):
    EQUALS = "equals"
    NOT = "not"
    ONE_OF = "one_of"
    NOT_ONE_OF = "not_one_of"
    AT_LEAST = "at_least"
    MORE_THAN = "more_than"
    AT_MOST = "at_most"
    LESS_THAN = "less_than"
    ANY_OF = "any_of"
    ALL_OF = "all_of"
    MENTIONS = "mentions"
    WITHIN = "within"
    TIER = "tier"


# Which operators make sense for which kind of fact.
SCALAR_OPS = frozenset({Op.EQUALS, Op.NOT, Op.ONE_OF, Op.NOT_ONE_OF})
NUMBER_OPS = SCALAR_OPS | {Op.AT_LEAST, Op.MORE_THAN, Op.AT_MOST, Op.LESS_THAN}
LIST_OPS = frozenset({Op.ANY_OF, Op.ALL_OF})
OPS_BY_KIND = {
    Kind.CODE: SCALAR_OPS,
    Kind.TEXT: SCALAR_OPS,
    Kind.PROSE: frozenset({Op.MENTIONS}),
    Kind.PLACE: frozenset({Op.WITHIN}),
    Kind.FLAG: frozenset({Op.EQUALS}),
    Kind.COUNT: NUMBER_OPS,
    Kind.MONEY: NUMBER_OPS | {Op.TIER},
    Kind.CODES: LIST_OPS,
}
MULTI_VALUE_OPS = frozenset(
    {Op.ONE_OF, Op.NOT_ONE_OF, Op.ANY_OF, Op.ALL_OF, Op.MENTIONS, Op.WITHIN, Op.TIER}
)
# Words that qualify a `mentions` condition, written beside it in the same mapping.
MENTION_MODIFIERS = ("not_after", "not_within")
# The operator a bare value or list means, by kind of fact.
DEFAULT_OP = {Kind.CODES: Op.ANY_OF, Kind.PROSE: Op.MENTIONS, Kind.PLACE: Op.WITHIN}

_COMPARE: dict[Op, tuple[str, Callable[[int, int], bool], str]] = {
    Op.AT_LEAST: ("$gte", lambda a, b: a >= b, "≥"),
    Op.MORE_THAN: ("$gt", lambda a, b: a > b, ">"),
    Op.AT_MOST: ("$lte", lambda a, b: a <= b, "≤"),
    Op.LESS_THAN: ("$lt", lambda a, b: a < b, "<"),
}


@dataclass(frozen=True, slots=True)
class AmountTier:
    """One row of the policy's amount table (`amount_tiers`): amounts from `low_fen`
    (included) up to `below_fen` (excluded; None: every larger amount)."""

    id: str
    label: str
    low_fen: int
    below_fen: int | None

    def holds(self, amount_fen: int) -> bool:
        return amount_fen >= self.low_fen and (
            self.below_fen is None or amount_fen < self.below_fen
        )


def mentioned(
    text: str, words: tuple[str, ...], not_after: tuple[str, ...], not_within: tuple[str, ...]
) -> bool:
    """Whether some word of `words` occurs in `text` other than right after a word of
    `not_after` ("没有持刀") or as part of a phrase of `not_within` ("砍树")."""
    for word in words:
        start = text.find(word)
        while start >= 0:
            if not _excused(text, start, word, not_after, not_within):
                return True
            start = text.find(word, start + 1)
    return False


def _excused(
    text: str, start: int, word: str, not_after: tuple[str, ...], not_within: tuple[str, ...]
) -> bool:
    if any(text.endswith(negation, 0, start) for negation in not_after):
        return True
    for phrase in not_within:
        offset = phrase.find(word)
        while offset >= 0:
            if start >= offset and text.startswith(phrase, start - offset):
                return True
            offset = phrase.find(word, offset + 1)
    return False


@dataclass(frozen=True, slots=True)
class Condition:
    """`fact op value`. Money values are held in fen; `values` is used by multi-value ops.
    A `mentions` condition may carry `not_after` and `not_within` words; a `tier`
    condition carries the rows of the amount table it names."""

    fact: str
    op: Op
    value: Scalar = ""
    values: tuple[Scalar, ...] = ()
    not_after: tuple[str, ...] = ()
    not_within: tuple[str, ...] = ()
    tiers: tuple[AmountTier, ...] = ()

    def holds(self, facts: Facts) -> bool:
        actual = facts[self.fact]
        match self.op:
            case Op.EQUALS:
                return actual == self.value
            case Op.NOT:
                return actual != self.value
            case Op.ONE_OF:
                return actual in self.values
            case Op.NOT_ONE_OF:
                return actual not in self.values
            case Op.ANY_OF:
                return isinstance(actual, tuple) and any(v in actual for v in self.values)
            case Op.ALL_OF:
                return isinstance(actual, tuple) and all(v in actual for v in self.values)
            case Op.MENTIONS:
                return isinstance(actual, str) and mentioned(
                    actual, tuple(str(v) for v in self.values), self.not_after, self.not_within
                )
            case Op.TIER:
                if isinstance(actual, bool) or not isinstance(actual, int):
                    return False
                return any(tier.holds(actual) for tier in self.tiers)
            case Op.WITHIN:
                return isinstance(actual, str) and any(
                    actual == v or actual.startswith(f"{v}/") for v in self.values
                )
            case _:
                _, compare, _ = _COMPARE[self.op]
                if isinstance(actual, bool) or not isinstance(actual, int):
                    return False
                return compare(actual, int(self.value))

    def to_durable(self) -> Json:
        f = self.fact
        match self.op:
            case Op.EQUALS:
                return {f: self.value}
            case Op.NOT:
                return {"$neq": {f: self.value}}
            case Op.ONE_OF:
                return _any([{f: v} for v in self.values])
            case Op.NOT_ONE_OF:
                return _all([{"$neq": {f: v}} for v in self.values])
            case Op.ANY_OF:
                # One `$iany` per value, never an `$or` inside `$iany`: durable_rules
                # 2.0.28 reads an uninitialised byte of the `$or` node there and refuses
                # the ruleset (error 102) at random, depending on what malloc returns.
                return _any([{"$iany": {f: {"$i": v}}} for v in self.values])
            case Op.ALL_OF:
                return _all([{"$iany": {f: {"$i": v}}} for v in self.values])
            case Op.MENTIONS:
                # Free text stays out of the engine: durable_engine posts a flag per
                # `mentions` condition, computed with `holds`' own substring test.
                raise ValueError("mentions conditions compile to flags in durable_engine")
            case Op.TIER:
                return _any([_all(_tier_bounds(f, tier)) for tier in self.tiers])
            case Op.WITHIN:
                return _any(
                    [
                        _all(
                            [
                                {part: seg}
                                for part, seg in zip(PLACE_PARTS, str(v).split("/"), strict=False)
                            ]
                        )
                        for v in self.values
                    ]
                )
            case _:
                operator, _, _ = _COMPARE[self.op]
                return {operator: {f: self.value}}

    def describe(self) -> str:
        spec = FACTS[self.fact]
        shown = [describe_value(spec, v) for v in self.values]
        match self.op:
            case Op.EQUALS:
                return f"{spec.label}为{describe_value(spec, self.value)}"
            case Op.NOT:
                return f"{spec.label}不为{describe_value(spec, self.value)}"
            case Op.ONE_OF:
                return f"{spec.label}属于{'、'.join(shown)}"
            case Op.NOT_ONE_OF:
                return f"{spec.label}不属于{'、'.join(shown)}"
            case Op.ANY_OF:
                return f"{spec.label}含{'、'.join(shown)}之一"
            case Op.ALL_OF:
                return f"{spec.label}同时含{'、'.join(shown)}"
            case Op.MENTIONS:
                said = f"{spec.label}提到" + "或".join(f"“{v}”" for v in self.values)
                if self.not_after:
                    said += f"（紧跟在{'、'.join(self.not_after)}之后的不算）"
                if self.not_within:
                    said += f"（{'、'.join(self.not_within)}中的不算）"
                return said
            case Op.TIER:
                return f"{spec.label}在" + "或".join(f"“{t.label}”" for t in self.tiers) + "档"
            case Op.WITHIN:
                return f"{spec.label}在" + "或".join(str(v) for v in self.values)
            case _:
                _, _, symbol = _COMPARE[self.op]
                return f"{spec.label} {symbol} {describe_value(spec, self.value)}"


def _tier_bounds(fact: str, tier: AmountTier) -> list[Json]:
    bounds: list[Json] = [{"$gte": {fact: tier.low_fen}}]
    if tier.below_fen is not None:
        bounds.append({"$lt": {fact: tier.below_fen}})
    return bounds


def _any(terms: list[Json]) -> Json:
    return terms[0] if len(terms) == 1 else {"$or": terms}


def _all(terms: list[Json]) -> Json:
    return terms[0] if len(terms) == 1 else {"$and": terms}
