"""The checker's vocabulary of shapes: problems with positions, fields, codes, deadlines.
`PolicyChecker` and the policy test cases build on it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.model import Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES
from fengqiao.policy.conditions import AmountTier
from fengqiao.policy.model import AmountBand, AmountBands, Deadline, DeadlineRule, DeadlineUnit
from fengqiao.policy.problems import Problem
from fengqiao.policy.yaml_safe import Position, position, suggest

MAX_DEADLINE: Final = {
    DeadlineUnit.SECONDS: 45 * 24 * 3600,
    DeadlineUnit.MINUTES: 45 * 24 * 60,
    DeadlineUnit.HOURS: 45 * 24,
    DeadlineUnit.DAYS: 45,
    DeadlineUnit.WORKING_DAYS: 45,
}
ROUTES: Final = tuple(r.value for r in Route)
TIER_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
UNITS: Final = tuple(u.value for u in DeadlineUnit)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool | ScalarBoolean)


# A trillion yuan: far above any dispute, and a number every evaluator handles exactly.
MAX_YUAN: Final = 10**12


def yuan_to_fen(value: Any) -> int | None:
    """Yuan (at most two decimals, 0 to `MAX_YUAN`) as whole fen, or None."""
    if isinstance(value, bool | ScalarBoolean) or not isinstance(value, int | float):
        return None
    try:
        fen = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    if not fen.is_finite() or not 0 <= fen <= MAX_YUAN * 100 or fen != fen.to_integral_value():
        return None
    return int(fen)


class ShapeChecks:
    """Collects problems instead of stopping at the first; `problems` holds them all."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # The policy's amount table by id (`amount_tiers`), read before routes and rules.
        self.amount_tiers: dict[str, AmountTier] = {}

    def add(self, where: Position, zh: str, en: str) -> None:
        self.problems.append(Problem(where[0], where[1], zh, en))

    def keys(
        self, node: CommentedMap, allowed: Iterable[str], required: Iterable[str], where: str
    ) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                zh, en = suggest(str(key), allowed)
                self.add(
                    position(node, key),
                    f"{where}中有未知字段 {key!r}{zh}",
                    f"unknown field {key!r} in {where}{en}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in node:
                self.add(
                    position(node),
                    f"{where}缺少必填字段 {key!r}",
                    f"{where} is missing the required field {key!r}",
                )

    def text(self, node: CommentedMap, key: str, zh: str) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(
                position(node, key), f"{zh}（{key}）应为非空文字", f"{key} must be non-empty text"
            )
            return ""
        return str(value)

    def code(
        self, node: Any, key: object, value: Any, choices: Iterable[str], *, zh: str, en: str
    ) -> str:
        choices = tuple(choices)
        if isinstance(value, str) and value in choices:
            return value
        szh, sen = suggest(str(value), choices)
        self.add(
            position(node, key),
            f"未知的{zh} {value!r}{szh}",
            f"unknown {en} {value!r}{sen}; use one of: {', '.join(choices)}",
        )
        return ""

    def codes(
        self, node: CommentedMap, key: str, choices: Iterable[str], *, zh: str, en: str
    ) -> tuple[str, ...]:
        value = node.get(key)
        items = value if isinstance(value, CommentedSeq) else [value]
        parent = value if isinstance(value, CommentedSeq) else node
        if isinstance(value, CommentedSeq) and not value:
            self.add(
                position(node, key), f"{key} 至少要列出一项", f"{key} needs at least one value"
            )
        return tuple(
            c
            for i, item in enumerate(items)
            if (c := self.code(parent, i if parent is value else key, item, choices, zh=zh, en=en))
        )

    def handler(self, node: CommentedMap) -> str:
        if "handler" not in node:
            return ""
        return self.code(
            node, "handler", node["handler"], RECIPIENT_ROLES, zh="处置对象", en="recipient role"
        )

    def roles(self, node: CommentedMap, key: str) -> tuple[str, ...]:
        return self.codes(node, key, RECIPIENT_ROLES, zh="处置/通知对象", en="recipient role")

    # -- deadlines --------------------------------------------------------------------

    def deadline_rule(self, node: CommentedMap, key: str) -> DeadlineRule | None:
        value = node.get(key)
        if isinstance(value, CommentedMap) and "by_amount" in value:
            return self.bands(value)
        if isinstance(value, CommentedMap) and "by_tier" in value:
            return self.tier_bands(value)
        return self.deadline(node, key)

    def deadline(self, node: Any, key: str | int, extra: tuple[str, ...] = ()) -> Deadline | None:
        value = node[key]
        units = [k for k in value if k not in extra] if isinstance(value, CommentedMap) else []
        if not isinstance(value, CommentedMap) or len(units) != 1:
            self.add(
                position(node, key),
                "期限应写成一项，例如 {working_days: 5}、{days: 7}、{hours: 24}，"
                "或按金额分档 {by_amount: [...]}",
                "a deadline is one of {hours: N}, {days: N}, {working_days: N}, "
                "or {by_amount: [...]}",
            )
            return None
        (unit,) = units
        amount = value[unit]
        if unit not in UNITS:
            zh, en = suggest(str(unit), UNITS)
            self.add(
                position(value, unit),
                f"未知的期限单位 {unit!r}{zh}",
                f"unknown deadline unit {unit!r}{en}; use {', '.join(UNITS)}",
            )
            return None
        limit = MAX_DEADLINE[DeadlineUnit(unit)]
        if not is_int(amount) or not 0 < amount <= limit:
            self.add(
                position(value, unit),
                f"期限应为 1 到 {limit} 之间的整数（总期限不超过 45 日）",
                f"{unit} must be a whole number from 1 to {limit}",
            )
            return None
        return Deadline(int(amount), DeadlineUnit(unit))

    def bands(self, node: CommentedMap) -> AmountBands | None:
        self.keys(node, ("by_amount",), (), "金额分档期限")
        items = node["by_amount"]
        if not isinstance(items, CommentedSeq) or not items:
            self.add(
                position(node, "by_amount"),
                "by_amount 应为列表，例如 [{below: 10000, days: 1}, {days: 15}]",
                "by_amount must be a list like [{below: 10000, days: 1}, {days: 15}]",
            )
            return None
        bands: list[AmountBand] = []
        before = len(self.problems)
        for i, item in enumerate(items):
            deadline = self.deadline(items, i, extra=("below",))
            last = i == len(items) - 1
            below = item.get("below") if isinstance(item, CommentedMap) else None
            if below is None:
                if not last:
                    self.add(
                        position(items, i),
                        "只有最后一档可以不写 below（其余金额）",
                        "only the last band may leave out `below` (every larger amount)",
                    )
                fen = None
            else:
                fen = yuan_to_fen(below)
                if fen is None or (
                    bands and bands[-1].below_fen is not None and fen <= bands[-1].below_fen
                ):
                    self.add(
                        position(item, "below"),
                        "below 应为递增的金额（元）",
                        "`below` must be amounts in yuan, increasing band by band",
                    )
                if last:
                    self.add(
                        position(items, i),
                        "最后一档不写 below，兜住其余金额",
                        "the last band must leave out `below`, to cover every larger amount",
                    )
            if deadline is not None:
                bands.append(AmountBand(fen, deadline))
        if len(self.problems) > before:
            return None
        return AmountBands(tuple(bands))

    # -- the amount table -------------------------------------------------------------

    def tier_table(self, node: Any, where: Position) -> None:
        """Read `amount_tiers` into `amount_tiers`: rows ascending, each up to `below`
        (excluded) or `at_most` (included) yuan, the last one open-ended."""
        if not isinstance(node, CommentedSeq) or not node:
            self.add(
                where,
                "amount_tiers 应为列表，例如 [{id: small, below: 10000, label: 1 万元以下}, …]",
                "amount_tiers must be a list like [{id: small, below: 10000, label: …}, …]",
            )
            return
        low = 0
        for i, item in enumerate(node):
            if not isinstance(item, CommentedMap):
                self.add(position(node, i), "每一档应为映射", "each tier must be a mapping")
                return
            self.keys(item, ("id", "label", "below", "at_most"), ("id", "label"), "金额分档")
            tier_id, label = item.get("id"), self.text(item, "label", "分档名称")
            if not (isinstance(tier_id, str) and TIER_ID.match(tier_id)):
                self.add(
                    position(item, "id"),
                    "分档编号只能用小写字母、数字、- 和 _，且不超过 32 个字符",
                    "a tier id is lowercase letters, digits, - and _ (at most 32)",
                )
                return
            if tier_id in self.amount_tiers:
                self.add(position(item, "id"), f"分档 {tier_id} 重复", f"tier {tier_id} twice")
                return
            below = self.tier_bound(item, last=i == len(node) - 1)
            if below is not None and below <= low:
                self.add(
                    position(item),
                    "各档上限应逐档递增（元）",
                    "each tier's upper bound must exceed the one before",
                )
                return
            self.amount_tiers[tier_id] = AmountTier(tier_id, label, low, below)
            low = below or low

    def tier_bound(self, item: CommentedMap, *, last: bool) -> int | None:
        """The first amount (fen) above the tier, or None for the open-ended last one."""
        given = [k for k in ("below", "at_most") if k in item]
        if last:
            if given:
                self.add(
                    position(item, given[0]),
                    "最后一档不写上限，兜住其余金额",
                    "the last tier has no upper bound: it takes every larger amount",
                )
            return None
        if len(given) != 1:
            self.add(
                position(item),
                "除最后一档外，每档写一个上限：below（不含）或 at_most（含）",
                "every tier but the last has one bound: below (excluded) or at_most (included)",
            )
            return None
        fen = yuan_to_fen(item[given[0]])
        if fen is None:
            self.add(
                position(item, given[0]),
                "上限应为金额（元，最多两位小数）",
                "a bound is an amount in yuan, at most two decimals",
            )
            return None
        return fen + 1 if given[0] == "at_most" else fen

    def tier_bands(self, node: CommentedMap) -> AmountBands | None:
        """`{by_tier: {tier id: deadline, …}}`: one deadline for every row of the table."""
        self.keys(node, ("by_tier",), (), "按金额分档期限")
        items = node["by_tier"]
        if not isinstance(items, CommentedMap) or not self.amount_tiers:
            self.add(
                position(node, "by_tier"),
                "by_tier 应为映射（分档编号: 期限），且须先在 amount_tiers 中列出金额分档",
                "by_tier maps each tier of `amount_tiers` to a deadline",
            )
            return None
        before = len(self.problems)
        for name in items:
            if name not in self.amount_tiers:
                zh, en = suggest(str(name), self.amount_tiers)
                self.add(
                    position(items, name),
                    f"amount_tiers 中没有分档 {name!r}{zh}",
                    f"no amount tier {name!r}{en}",
                )
        missing = [t for t in self.amount_tiers if t not in items]
        if missing:
            self.add(
                position(node, "by_tier"),
                f"by_tier 缺少分档 {'、'.join(missing)} 的期限",
                f"by_tier has no deadline for {', '.join(missing)}",
            )
        deadlines = {name: self.deadline(items, name) for name in items}
        if len(self.problems) > before:
            return None
        return AmountBands(
            tuple(
                AmountBand(tier.below_fen, deadline)
                for tier in self.amount_tiers.values()
                if (deadline := deadlines[tier.id]) is not None
            )
        )
