"""When one condition can never be true without another: the basis of the shadowed-rule
check. A later rule is unreachable when every dispute it matches also matches an earlier
rule, i.e. each condition of the earlier rule follows from some condition of the later.

The answers are sound, not complete: `implies` says True only when it has a proof, so
`rules check` never calls a reachable rule dead; some dead rules (a condition following
from two others together, say) go unreported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from fengqiao.policy.conditions import Condition, Op, Scalar
from fengqiao.policy.facts import FACTS, Kind
from fengqiao.policy.model import Rule

_EXCLUDING = frozenset({Op.NOT, Op.NOT_ONE_OF})
_BOUNDS = frozenset({Op.AT_LEAST, Op.MORE_THAN, Op.AT_MOST, Op.LESS_THAN})
_RANGES = _BOUNDS | {Op.TIER}


@dataclass(frozen=True, slots=True)
class _Range:
    """Whole numbers from `low` to `high`, both included; None is unbounded."""

    low: int | None
    high: int | None

    def within(self, other: _Range) -> bool:
        return (other.low is None or (self.low is not None and self.low >= other.low)) and (
            other.high is None or (self.high is not None and self.high <= other.high)
        )

    def holds(self, value: int) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def _ranges(condition: Condition) -> list[_Range]:
    """The amounts a bound or a `tier` condition lets through, as ranges."""
    if condition.op is Op.TIER:
        return [
            _Range(t.low_fen, None if t.below_fen is None else t.below_fen - 1)
            for t in condition.tiers
        ]
    return [_range(condition)]


def _range(condition: Condition) -> _Range:
    value = int(condition.value)
    match condition.op:
        case Op.AT_LEAST:
            return _Range(value, None)
        case Op.MORE_THAN:
            return _Range(value + 1, None)
        case Op.AT_MOST:
            return _Range(None, value)
        case _:
            return _Range(None, value - 1)


def _allowed(condition: Condition) -> frozenset[Scalar] | None:
    """The values a scalar condition lets through, when they are few enough to list."""
    if condition.op is Op.EQUALS:
        return frozenset({condition.value})
    if condition.op is Op.ONE_OF:
        return frozenset(condition.values)
    vocabulary = FACTS[condition.fact].vocabulary
    if condition.op in _EXCLUDING and vocabulary is not None:
        # Intake accepts only vocabulary codes, so "not these" is "one of the rest".
        return frozenset(code for code in vocabulary if condition.holds({condition.fact: code}))
    return None


def _excluded(condition: Condition) -> frozenset[Scalar]:
    return frozenset({condition.value}) if condition.op is Op.NOT else frozenset(condition.values)


def _scalar_implies(a: Condition, b: Condition) -> bool:
    allowed = _allowed(a)
    if allowed is not None:
        return all(b.holds({b.fact: value}) for value in allowed)
    if a.op in _RANGES:
        if b.op in _RANGES:
            return all(any(r.within(s) for s in _ranges(b)) for r in _ranges(a))
        if b.op in _EXCLUDING:
            return not any(
                isinstance(v, int) and r.holds(v) for v in _excluded(b) for r in _ranges(a)
            )
        return False
    # `a` excludes values of an open-ended fact: only a weaker exclusion follows.
    return b.op in _EXCLUDING and _excluded(b) <= _excluded(a)


def _codes_implies(a: Condition, b: Condition) -> bool:
    mine, theirs = set(a.values), set(b.values)
    if a.op is Op.ANY_OF:
        # "has one of mine" forces "has one of theirs" only if all of mine are theirs;
        # it forces "has all of theirs" only when mine is one code and theirs is it.
        return mine <= theirs if b.op is Op.ANY_OF else len(mine) == 1 and theirs <= mine
    return bool(mine & theirs) if b.op is Op.ANY_OF else theirs <= mine


def implies(a: Condition, b: Condition) -> bool:
    """True if every set of facts satisfying `a` also satisfies `b` (proved, not guessed)."""
    if a.fact != b.fact:
        return False
    if a == b:
        return True
    match FACTS[a.fact].kind:
        case Kind.CODES:
            return _codes_implies(a, b)
        case Kind.PROSE:
            # Every word of `a` that appears brings along a word of `b` inside it; when
            # `b` excuses some occurrences (negations, phrases), that proves nothing.
            if b.not_after or b.not_within:
                return False
            return all(any(str(w) in str(v) for w in b.values) for v in a.values)
        case Kind.PLACE:
            return all(b.holds({b.fact: str(place)}) for place in a.values)
        case _:
            return _scalar_implies(a, b)


def shadowed(rules: Sequence[Rule]) -> Iterator[tuple[int, Rule]]:
    """The index of each rule that can never match, with the first earlier rule that
    takes all its disputes (every condition of the earlier one follows from the later
    one's)."""
    by_fact = [_by_fact(rule.conditions) for rule in rules]
    for later_index in range(len(rules)):
        given = by_fact[later_index]
        for earlier_index, earlier in enumerate(rules[:later_index]):
            needed = by_fact[earlier_index]
            # A fact `later` leaves open can always fail `earlier`: the cheap test first.
            if needed.keys() <= given.keys() and all(
                any(implies(g, c) for g in given[fact])
                for fact, conditions in needed.items()
                for c in conditions
            ):
                yield later_index, earlier
                break


def _by_fact(conditions: Iterable[Condition]) -> dict[str, list[Condition]]:
    out: dict[str, list[Condition]] = {}
    for condition in conditions:
        out.setdefault(condition.fact, []).append(condition)
    return out
