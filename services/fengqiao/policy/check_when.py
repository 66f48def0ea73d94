"""Checks of conditions (`when`, and escalation's `on`/`from`), building `Condition`s."""

from __future__ import annotations

from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.vocabulary import SUBMITTED, TRIGGERS
from fengqiao.policy.check_shapes import ROUTES, ShapeChecks, is_int, yuan_to_fen
from fengqiao.policy.conditions import (
    DEFAULT_OP,
    MENTION_MODIFIERS,
    MULTI_VALUE_OPS,
    OPS_BY_KIND,
    AmountTier,
    Condition,
    Op,
    Scalar,
)
from fengqiao.policy.facts import FACTS, PLACE_PARTS, FactSpec, Kind
from fengqiao.policy.yaml_safe import Position, position, suggest

# Words searched in the summary go into durable_rules patterns: no pattern characters.
_PATTERN_CHARS = frozenset("^$()%.[]*+-?{}|\\")
MAX_WORD: Final = 32


class WhenChecks(ShapeChecks):
    def escalation_conditions(self, node: CommentedMap) -> tuple[Condition, ...]:
        """`on:` (which events) and `from:` (which levels) of an escalation rule."""
        out: list[Condition] = []
        if "on" in node:
            events = tuple(t for t in TRIGGERS if t != SUBMITTED)
            on = self.codes(node, "on", events, zh="触发事件", en="trigger")
            if on:
                out.append(Condition("trigger", Op.ONE_OF, values=on))
        if "from" in node:
            levels = self.codes(node, "from", ROUTES, zh="层级", en="level")
            if levels:
                out.append(Condition("level", Op.ONE_OF, values=levels))
        return tuple(out)

    # -- conditions -------------------------------------------------------------------

    def conditions(self, rule: CommentedMap) -> tuple[Condition, ...]:
        if "when" not in rule:
            return ()
        when = rule["when"]
        if not isinstance(when, CommentedMap) or not when:
            self.add(
                position(rule, "when"),
                "when 应为非空映射（字段: 条件）；兜底规则请不写 when",
                "when must be a non-empty mapping of field: condition; omit it for a default rule",
            )
            return ()
        out: list[Condition] = []
        usable = [name for name, spec in FACTS.items() if spec.in_when]
        for fact, test in when.items():
            spec = FACTS.get(fact)
            if spec is None or not spec.in_when:
                zh, en = suggest(str(fact), usable)
                self.add(
                    position(when, fact),
                    f"未知的条件字段 {fact!r}{zh}",
                    f"unknown field {fact!r}{en}; fields: {', '.join(usable)}",
                )
                continue
            out.extend(self.tests(when, fact, spec, test))
        return tuple(out)

    def _pairs(
        self, when: CommentedMap, fact: str, spec: FactSpec, test: Any
    ) -> list[tuple[Any, Any, Position]]:
        """A field's tests as (operator, value, position); a bare value or list means the
        kind's default operator. `mentions`' modifiers are not tests of their own."""
        default = DEFAULT_OP.get(spec.kind)
        if isinstance(test, CommentedMap):
            return [
                (op, value, position(test, op))
                for op, value in test.items()
                if not (spec.kind is Kind.PROSE and op in MENTION_MODIFIERS)
            ]
        if isinstance(test, CommentedSeq):
            return [((default or Op.ONE_OF).value, test, position(when, fact))]
        op = default or Op.EQUALS
        return [(op.value, [test] if op in MULTI_VALUE_OPS else test, position(when, fact))]

    def tests(self, when: CommentedMap, fact: str, spec: FactSpec, test: Any) -> list[Condition]:
        pairs = self._pairs(when, fact, spec, test)
        modifiers: dict[str, tuple[str, ...]] = {}
        if spec.kind is Kind.PROSE and isinstance(test, CommentedMap):
            modifiers = self.mention_modifiers(test)
        out: list[Condition] = []
        allowed = sorted(o.value for o in OPS_BY_KIND[spec.kind])
        for op_name, value, where in pairs:
            if op_name not in allowed:
                zh, en = suggest(str(op_name), allowed)
                self.add(
                    where,
                    f"字段 {fact} 不能用条件 {op_name!r}{zh}",
                    f"{fact} does not take {op_name!r}{en}; use {', '.join(allowed)}",
                )
                continue
            op = Op(op_name)
            if op is Op.TIER:
                tiers = self.tiers_named(value, where)
                if tiers:
                    out.append(Condition(fact, op, values=tuple(t.id for t in tiers), tiers=tiers))
                continue
            if op in MULTI_VALUE_OPS:
                items = list(value) if isinstance(value, list) else [value]
                if not items:
                    self.add(
                        where, f"{op_name} 至少要列出一个值", f"{op_name} needs at least one value"
                    )
                    continue
                values = [self.value(spec, v, where) for v in items]
                if all(v is not None for v in values):
                    out.append(
                        Condition(
                            fact,
                            op,
                            values=tuple(v for v in values if v is not None),
                            not_after=modifiers.get("not_after", ()),
                            not_within=modifiers.get("not_within", ()),
                        )
                    )
            else:
                one = self.value(spec, value, where)
                if one is not None:
                    out.append(Condition(fact, op, value=one))
        return out

    def mention_modifiers(self, test: CommentedMap) -> dict[str, tuple[str, ...]]:
        """`not_after` (negations) and `not_within` (harmless phrases) beside `mentions`."""
        out: dict[str, tuple[str, ...]] = {}
        prose = FACTS["summary"]
        for key in MENTION_MODIFIERS:
            if key not in test:
                continue
            if "mentions" not in test:
                self.add(
                    position(test, key),
                    f"{key} 须与 mentions 写在一起",
                    f"{key} qualifies `mentions`: write both",
                )
            items = test[key] if isinstance(test[key], CommentedSeq) else [test[key]]
            words = [self.value(prose, item, position(test, key)) for item in items]
            if not items:
                self.add(position(test, key), f"{key} 至少要列出一个词", f"{key} needs a word")
            out[key] = tuple(str(w) for w in words if w is not None)
        return out

    def tiers_named(self, value: Any, where: Position) -> tuple[AmountTier, ...]:
        """The rows of the amount table that `amount: {tier: …}` names, in table order."""
        names = list(value) if isinstance(value, list) else [value]
        if not self.amount_tiers:
            self.add(
                where,
                "使用 tier 前须在 amount_tiers 中列出金额分档",
                "`tier` needs the policy's `amount_tiers` table",
            )
            return ()
        unknown = [n for n in names if not isinstance(n, str) or n not in self.amount_tiers]
        for name in unknown:
            zh, en = suggest(str(name), self.amount_tiers)
            self.add(
                where,
                f"amount_tiers 中没有分档 {name!r}{zh}",
                f"no amount tier {name!r}{en}; tiers: {', '.join(self.amount_tiers)}",
            )
        if unknown or not names:
            return ()
        return tuple(t for t in self.amount_tiers.values() if t.id in names)

    def value(  # noqa: PLR0912  # one arm per kind of fact
        self, spec: FactSpec, value: Any, where: Position
    ) -> Scalar | None:
        fact = spec.name
        match spec.kind:
            case Kind.CODE | Kind.CODES:
                assert spec.vocabulary is not None
                if isinstance(value, str) and value in spec.vocabulary:
                    return str(value)
                zh, en = suggest(str(value), spec.vocabulary)
                self.add(
                    where,
                    f"{spec.label}没有 {value!r} 这一项{zh}",
                    f"{value!r} is not a known {fact}{en}; use {', '.join(spec.vocabulary)}",
                )
            case Kind.TEXT:
                if isinstance(value, str) and value.strip() and "/" not in value:
                    return str(value)
                self.add(where, f"{spec.label}应为不含“/”的文字", f"{fact} takes text without '/'")
            case Kind.PROSE:
                if (
                    isinstance(value, str)
                    and 0 < len(value.strip()) <= MAX_WORD
                    and not _PATTERN_CHARS & set(value)
                ):
                    return str(value)
                self.add(
                    where,
                    f"要查找的词应为 1 到 {MAX_WORD} 个字，"
                    f"不含符号 {''.join(sorted(_PATTERN_CHARS))}",
                    f"a word to look for is 1 to {MAX_WORD} characters without "
                    f"{''.join(sorted(_PATTERN_CHARS))}",
                )
            case Kind.PLACE:
                parts = value.split("/") if isinstance(value, str) else []
                if 0 < len(parts) <= len(PLACE_PARTS) and all(p.strip() == p and p for p in parts):
                    return str(value)
                self.add(
                    where,
                    "发生地写作 区县/街道/社区/网格，可只写前几级，例如 甘州区/东街街道",
                    "a place is district/street/community/grid or a prefix, e.g. 甘州区/东街街道",
                )
            case Kind.FLAG:
                if isinstance(value, bool | ScalarBoolean):
                    return bool(value)
                self.add(where, f"{spec.label}应为 true 或 false", f"{fact} takes true or false")
            case Kind.COUNT:
                if is_int(value) and value >= 0:
                    return int(value)
                self.add(where, f"{spec.label}应为非负整数", f"{fact} takes a whole number ≥ 0")
            case Kind.MONEY:
                fen = yuan_to_fen(value)
                if fen is not None:
                    return fen
                self.add(
                    where,
                    f"{spec.label}应为 0 到 1 万亿之间的金额（元，最多两位小数）",
                    f"{fact} takes an amount in yuan from 0 to 10^12, at most two decimals",
                )
        return None
