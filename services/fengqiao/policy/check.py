"""Check a parsed rules file field by field and build the `Policy` it describes.

Every problem is collected (not just the first), with its position and a message in
Chinese and English that says what to do.
"""

from __future__ import annotations

import re
import string
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from fengqiao.domain.model import Priority, Route
from fengqiao.policy.check_shapes import ROUTES, is_int
from fengqiao.policy.check_when import WhenChecks
from fengqiao.policy.facts import FACTS, Kind
from fengqiao.policy.implies import shadowed
from fengqiao.policy.model import (
    Deadline,
    DeadlineUnit,
    Policy,
    RouteSpec,
    Rule,
    Timing,
)
from fengqiao.policy.yaml_safe import Position, position, suggest

# durable_rules fails at 512 rules and hangs beyond; keep a wide margin (routing and
# escalation rules together).
MAX_RULES: Final = 400
REASON_FIELDS: Final = frozenset(
    {name for name, spec in FACTS.items() if spec.kind is not Kind.PROSE}
    | {"route", "handler", "deadline"}
)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOP_KEYS = ("version", "amount_tiers", "routes", "rules", "escalation", "timing")
_TIMING_KEYS = ("response", "follow_up_after", "repeat_window_days")
MAX_WINDOW_DAYS: Final = 365
_ROUTE_KEYS = ("label", "deadline", "handler", "notify")
_RULE_KEYS = ("id", "title", "when", "route", "priority", "deadline", "handler", "notify", "reason")
_ESCALATION_KEYS = (
    "id",
    "title",
    "on",
    "from",
    "when",
    "to",
    "priority",
    "deadline",
    "handler",
    "notify",
    "reason",
)


class PolicyChecker(WhenChecks):
    """Walks the parsed document once; `problems` holds everything found."""

    def policy(self, doc: Any, version: str, source: str) -> Policy | None:
        if not isinstance(doc, CommentedMap):
            self.add(
                (1, 1),
                "规则文件顶层应为映射（version、routes、rules、escalation）",
                "the top level must be a mapping with version, routes, rules, escalation",
            )
            return None
        self.keys(doc, _TOP_KEYS, ("version", "routes", "rules"), "规则文件")
        label = self.text(doc, "version", "版本标签") if "version" in doc else ""
        if "amount_tiers" in doc:
            self.tier_table(doc["amount_tiers"], position(doc, "amount_tiers"))
        routes = self.routes(doc.get("routes"), position(doc, "routes"))
        rules = self.rule_list(doc.get("rules"), position(doc, "rules"), escalation=False)
        escalation: tuple[Rule, ...] = ()
        if "escalation" in doc:
            escalation = self.rule_list(doc["escalation"], position(doc, "escalation"), True)
        timing = self.timing(doc["timing"]) if "timing" in doc else Timing()
        if len(rules) + len(escalation) > MAX_RULES:
            self.add(
                position(doc, "rules"),
                f"规则超过 {MAX_RULES} 条，规则引擎无法承载，请合并相近的规则",
                f"more than {MAX_RULES} rules: the rules engine cannot hold them; merge rules",
            )
        if self.problems:
            return None
        tiers = tuple(self.amount_tiers.values())
        return Policy(label, version, source, routes, rules, escalation, timing, tiers)

    def timing(self, node: Any) -> Timing:
        if not isinstance(node, CommentedMap):
            self.add(
                position(node),
                "timing 应为映射（response、follow_up_after、repeat_window_days）",
                "timing must be a mapping of response, follow_up_after, repeat_window_days",
            )
            return Timing()
        self.keys(node, _TIMING_KEYS, (), "timing")
        default = Timing()
        window = node.get("repeat_window_days", default.repeat_window_days)
        if not is_int(window) or not 0 < window <= MAX_WINDOW_DAYS:
            self.add(
                position(node, "repeat_window_days"),
                f"repeat_window_days 应为 1 到 {MAX_WINDOW_DAYS} 之间的天数",
                f"repeat_window_days must be 1 to {MAX_WINDOW_DAYS} days",
            )
            window = default.repeat_window_days
        return Timing(
            response=(self.deadline(node, "response") if "response" in node else None)
            or default.response,
            follow_up_after=(
                self.deadline(node, "follow_up_after") if "follow_up_after" in node else None
            )
            or default.follow_up_after,
            repeat_window_days=int(window),
        )

    # -- shapes ---------------------------------------------------------------------

    # -- routes ---------------------------------------------------------------------

    def routes(self, node: Any, where: Position) -> dict[Route, RouteSpec]:
        if not isinstance(node, CommentedMap):
            self.add(
                where,
                f"routes 应为映射，包含 {'、'.join(ROUTES)}",
                f"routes must be a mapping with {', '.join(ROUTES)}",
            )
            return {}
        out: dict[Route, RouteSpec] = {}
        for name, spec in node.items():
            if not self.code(node, name, name, ROUTES, zh="分流去向", en="route"):
                continue
            if not isinstance(spec, CommentedMap):
                self.add(
                    position(node, name), f"去向 {name} 应为映射", f"route {name} must be a mapping"
                )
                continue
            self.keys(spec, _ROUTE_KEYS, _ROUTE_KEYS, f"去向 {name} ")
            route = Route(name)
            out[route] = RouteSpec(
                route=route,
                label=self.text(spec, "label", "名称") if "label" in spec else "",
                deadline=(self.deadline_rule(spec, "deadline") if "deadline" in spec else None)
                or Deadline(1, DeadlineUnit.DAYS),
                handler=self.handler(spec),
                notify=self.roles(spec, "notify") if "notify" in spec else (),
            )
        for name in ROUTES:
            if name not in node:
                self.add(where, f"routes 缺少去向 {name}", f"routes is missing {name}")
        return out

    # -- rules ------------------------------------------------------------------------

    def rule_list(self, node: Any, where: Position, escalation: bool) -> tuple[Rule, ...]:
        name = "escalation" if escalation else "rules"
        if not isinstance(node, CommentedSeq) or not node:
            self.add(
                where,
                f"{name} 应为非空列表，按顺序第一条命中的规则生效",
                f"{name} must be a non-empty list; the first matching rule wins",
            )
            return ()
        out: list[Rule] = []
        at: list[int] = []  # each rule's index in `node`, for positions
        seen: dict[str, int] = {}
        for i, item in enumerate(node):
            rule_id = item.get("id") if isinstance(item, CommentedMap) else None
            if isinstance(rule_id, str) and rule_id in seen:
                self.add(
                    position(item, "id"),
                    f"规则编号 {rule_id} 重复（首次出现在第 {seen[rule_id]} 行）",
                    f"duplicate rule id {rule_id} (first at line {seen[rule_id]})",
                )
            elif isinstance(rule_id, str):
                seen[rule_id] = position(item)[0]
            rule = self.rule(node, i, item, escalation)
            if rule is not None:
                out.append(rule)
                at.append(i)
        self.reachability(node, out, at, name)
        return tuple(out)

    def reachability(self, node: CommentedSeq, rules: list[Rule], at: list[int], name: str) -> None:
        for index, earlier in shadowed(rules):
            later = rules[index]
            self.add(
                position(node, at[index]),
                f"规则 {later.id} 永远不会生效：符合它的纠纷都会先被前面的规则 "
                f"{earlier.id}（第 {earlier.line} 行）命中；请调整顺序、收窄前者或删除",
                f"rule {later.id} can never match: earlier rule {earlier.id} "
                f"(line {earlier.line}) takes every dispute it would match; reorder, "
                "narrow the earlier rule, or remove this one",
            )
        if rules and rules[-1].conditions:
            self.add(
                position(node, at[-1]),
                f"{name} 的最后一条须为兜底规则（不写条件），保证每件纠纷都有去向",
                f"the last rule of {name} must be a default rule without conditions, "
                "so every dispute has a way forward",
            )

    def rule(self, parent: CommentedSeq, index: int, node: Any, escalation: bool) -> Rule | None:
        if not isinstance(node, CommentedMap):
            self.add(
                position(parent, index),
                "每条规则应为映射（id、title、when、route、reason …）",
                "each rule must be a mapping (id, title, when, route, reason …)",
            )
            return None
        before = len(self.problems)
        target = "to" if escalation else "route"
        if escalation:
            self.keys(node, _ESCALATION_KEYS, ("id", "title", "to", "reason"), "升级规则")
        else:
            self.keys(node, _RULE_KEYS, ("id", "title", "route", "reason"), "规则")
        rule_id = node.get("id")
        if "id" in node and not (isinstance(rule_id, str) and _RULE_ID.match(rule_id)):
            self.add(
                position(node, "id"),
                "规则编号只能用小写字母、数字、- 和 _，且不超过 64 个字符",
                "rule id must be lowercase letters, digits, - and _ (at most 64)",
            )
        title = self.text(node, "title", "标题") if "title" in node else ""
        route = (
            self.code(node, target, node.get(target), ROUTES, zh="分流去向", en="route")
            if target in node
            else ""
        )
        priority = node.get("priority", Priority.NORMAL.value)
        if not isinstance(priority, str) or priority not in {p.value for p in Priority}:
            self.add(
                position(node, "priority"),
                "priority 只能是 normal（一般）或 urgent（紧急）",
                "priority must be normal or urgent",
            )
        reason = self.text(node, "reason", "理由") if "reason" in node else ""
        self.reason_fields(node, reason)
        conditions = self.escalation_conditions(node) if escalation else ()
        conditions += self.conditions(node)
        deadline = self.deadline_rule(node, "deadline") if "deadline" in node else None
        handler = self.handler(node)
        notify = self.roles(node, "notify") if "notify" in node else ()
        if len(self.problems) > before:
            return None
        return Rule(
            id=str(rule_id),
            title=title,
            conditions=conditions,
            route=Route(route),
            priority=Priority(priority),
            reason=reason,
            deadline=deadline,
            handler=handler,
            notify=notify,
            line=position(node)[0],
        )

    def reason_fields(self, node: CommentedMap, reason: str) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        except ValueError as exc:
            self.add(
                position(node, "reason"),
                f"理由模板的花括号不配对：{exc}",
                f"unbalanced braces in reason: {exc}",
            )
            return
        for field in fields:
            if field not in REASON_FIELDS:
                zh, en = suggest(field, REASON_FIELDS)
                self.add(
                    position(node, "reason"),
                    f"理由模板中的 {{{field}}} 无法填写{zh}",
                    f"unknown placeholder {{{field}}} in reason{en}; "
                    f"use {', '.join(sorted(REASON_FIELDS))}",
                )
