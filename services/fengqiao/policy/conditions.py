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
    Kind.MONEY: NUMBER_OPS,
    Kind.CODES: LIST_OPS,
}
MULTI_VALUE_OPS = frozenset(
    {Op.ONE_OF, Op.NOT_ONE_OF, Op.ANY_OF, Op.ALL_OF, Op.MENTIONS, Op.WITHIN}
)
# The operator a bare value or list means, by kind of fact.
DEFAULT_OP = {Kind.CODES: Op.ANY_OF, Kind.PROSE: Op.MENTIONS, Kind.PLACE: Op.WITHIN}

_COMPARE: dict[Op, tuple[str, Callable[[int, int], bool], str]] = {
    Op.AT_LEAST: ("$gte", lambda a, b: a >= b, "≥"),
    Op.MORE_THAN: ("$gt", lambda a, b: a > b, ">"),
    Op.AT_MOST: ("$lte", lambda a, b: a <= b, "≤"),
    Op.LESS_THAN: ("$lt", lambda a, b: a < b, "<"),
}


@dataclass(frozen=True, slots=True)
class Condition:
    """`fact op value`. Money values are held in fen; `values` is used by multi-value ops."""

    fact: str
    op: Op
    value: Scalar = ""
    values: tuple[Scalar, ...] = ()

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
                return isinstance(actual, str) and any(str(v) in actual for v in self.values)
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
                return f"{spec.label}提到" + "或".join(f"“{v}”" for v in self.values)
            case Op.WITHIN:
                return f"{spec.label}在" + "或".join(str(v) for v in self.values)
            case _:
                _, _, symbol = _COMPARE[self.op]
                return f"{spec.label} {symbol} {describe_value(spec, self.value)}"


def _any(terms: list[Json]) -> Json:
    return terms[0] if len(terms) == 1 else {"$or": terms}


def _all(terms: list[Json]) -> Json:
    return terms[0] if len(terms) == 1 else {"$and": terms}
