"""The checker's vocabulary of shapes: problems with positions, fields, codes, deadlines.
`PolicyChecker` and the policy test cases build on it."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.model import Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES
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
