"""The JSON Schema of the rules file, built from the same vocabularies and operators the
checker uses, so editors flag what `fengqiao rules check` refuses. `rules/schema.json` is
this, written by `fengqiao rules schema`; a test keeps the two the same."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean

from fengqiao.domain.vocabulary import RECIPIENT_ROLES, SUBMITTED, TRIGGERS
from fengqiao.policy.check import MAX_RULES
from fengqiao.policy.check_shapes import MAX_DEADLINE, MAX_YUAN, ROUTES, TIER_ID
from fengqiao.policy.conditions import MENTION_MODIFIERS, MULTI_VALUE_OPS, OPS_BY_KIND, Op
from fengqiao.policy.facts import FACTS, Kind
from fengqiao.policy.problems import Problem
from fengqiao.policy.yaml_safe import position

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string", "minLength": 1}
_ID: Schema = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
_TIER_ID: Schema = {"type": "string", "pattern": TIER_ID.pattern, "description": "金额分档编号"}
_YUAN: Schema = {"type": "number", "minimum": 0, "maximum": MAX_YUAN, "description": "元"}


def _enum(codes: Any, description: str) -> Schema:
    return {"enum": list(codes), "description": description}


def _one_or_many(item: Schema) -> Schema:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


def _scalar(kind: Kind, vocabulary: Any) -> Schema:
    match kind:
        case Kind.CODE | Kind.CODES:
            return {"enum": list(vocabulary)}
        case Kind.COUNT:
            return {"type": "integer", "minimum": 0}
        case Kind.MONEY:
            return {"type": "number", "minimum": 0, "maximum": MAX_YUAN, "description": "元"}
        case Kind.FLAG:
            return {"type": "boolean"}
        case _:
            return _TEXT


def _condition(name: str) -> Schema:
    spec = FACTS[name]
    one = _scalar(spec.kind, spec.vocabulary)
    many: Schema = {"type": "array", "items": one, "minItems": 1}
    ops = {
        op.value: many if op in MULTI_VALUE_OPS else one
        for op in sorted(OPS_BY_KIND[spec.kind], key=lambda o: list(Op).index(o))
    }
    if Op.TIER.value in ops:
        ops[Op.TIER.value] = _one_or_many(_TIER_ID)
    if spec.kind is Kind.PROSE:
        ops |= dict.fromkeys(MENTION_MODIFIERS, many)
    return {
        "description": spec.label,
        "anyOf": [
            one,
            many,
            {
                "type": "object",
                "properties": ops,
                "additionalProperties": False,
                "minProperties": 1,
            },
        ],
    }


def _deadline() -> Schema:
    units = {
        unit.value: {"type": "integer", "minimum": 1, "maximum": limit}
        for unit, limit in MAX_DEADLINE.items()
    }
    fixed = {
        "type": "object", "properties": units, "additionalProperties": False,
        "minProperties": 1, "maxProperties": 1,
    }  # fmt: skip
    band = {
        "type": "object",
        "properties": {
            "below": {"type": "number", "minimum": 0, "maximum": MAX_YUAN, "description": "元"},
            **units,
        },
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 2,
    }
    by_amount = {
        "type": "object",
        "properties": {"by_amount": {"type": "array", "items": band, "minItems": 1}},
        "required": ["by_amount"],
        "additionalProperties": False,
    }
    by_tier = {
        "type": "object",
        "properties": {
            "by_tier": {
                "type": "object",
                "propertyNames": _TIER_ID,
                "additionalProperties": fixed,
                "minProperties": 1,
            }
        },
        "required": ["by_tier"],
        "additionalProperties": False,
    }
    return {"description": "期限：{hours|days|working_days: N}，或按 amount_tiers 分档 "
                           "{by_tier: {分档: 期限}}，或（旧写法）{by_amount: [...]}",
            "oneOf": [fixed, by_tier, by_amount]}  # fmt: skip


def _amount_tiers() -> Schema:
    tier = {
        "type": "object",
        "properties": {"id": _TIER_ID, "label": _TEXT, "below": _YUAN, "at_most": _YUAN},
        "required": ["id", "label"],
        "additionalProperties": False,
        "not": {"required": ["below", "at_most"]},
    }
    return {
        "description": "金额分档表：分流条件 amount: {tier: …} 与期限 by_tier 共用；"
        "各档上限 below（不含）或 at_most（含）逐档递增，最后一档不写上限",
        "type": "array",
        "items": tier,
        "minItems": 1,
    }


def _rule(escalation: bool) -> Schema:
    target = "to" if escalation else "route"
    properties: Schema = {
        "id": _ID,
        "title": _TEXT,
        "when": {"$ref": "#/$defs/when"},
        target: _enum(ROUTES, "去向"),
        "priority": _enum(("normal", "urgent"), "优先级：一般或紧急"),
        "deadline": {"$ref": "#/$defs/deadline"},
        "handler": {"$ref": "#/$defs/role"},
        "notify": _one_or_many({"$ref": "#/$defs/role"}),
        "reason": _TEXT,
    }
    if escalation:
        events = [t for t in TRIGGERS if t != SUBMITTED]
        properties["on"] = _one_or_many(_enum(events, "触发事件"))
        properties["from"] = _one_or_many(_enum(ROUTES, "层级"))
    return {
        "type": "object",
        "properties": properties,
        "required": ["id", "title", target, "reason"],
        "additionalProperties": False,
    }


def policy_schema() -> Schema:
    when_facts = [name for name, spec in FACTS.items() if spec.in_when]
    route = {
        "type": "object",
        "properties": {
            "label": _TEXT,
            "deadline": {"$ref": "#/$defs/deadline"},
            "handler": {"$ref": "#/$defs/role"},
            "notify": _one_or_many({"$ref": "#/$defs/role"}),
        },
        "required": ["label", "deadline", "handler", "notify"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fengqiao.invalid/rules/schema.json",
        "title": "fengqiao 矛盾纠纷分流规则",
        "description": "由 fengqiao rules schema 生成，请勿手工修改。",
        "type": "object",
        "properties": {
            "version": _TEXT,
            "amount_tiers": _amount_tiers(),
            "routes": {
                "type": "object",
                "properties": dict.fromkeys(ROUTES, route),
                "required": list(ROUTES),
                "additionalProperties": False,
            },
            "rules": {"type": "array", "items": _rule(False), "minItems": 1, "maxItems": MAX_RULES},
            "escalation": {"type": "array", "items": _rule(True), "minItems": 1},
            "timing": {
                "type": "object",
                "properties": {
                    "response": {"$ref": "#/$defs/fixed_deadline"},
                    "follow_up_after": {"$ref": "#/$defs/fixed_deadline"},
                    "repeat_window_days": {"type": "integer", "minimum": 1, "maximum": 365},
                },
                "additionalProperties": False,
            },
        },
        "required": ["version", "routes", "rules"],
        "additionalProperties": False,
        "$defs": {
            "role": _enum(RECIPIENT_ROLES, "处置/通知对象"),
            "deadline": _deadline(),
            "fixed_deadline": _deadline()["oneOf"][0],
            "when": {
                "type": "object",
                "properties": {name: _condition(name) for name in when_facts},
                "additionalProperties": False,
                "minProperties": 1,
            },
        },
    }


_VALIDATOR: Draft202012Validator | None = None


def schema_problems(doc: Any) -> list[Problem]:
    """Where the parsed document breaks the schema, at the offending key's position."""
    global _VALIDATOR  # noqa: PLW0603  # built once, on first use
    if _VALIDATOR is None:
        _VALIDATOR = Draft202012Validator(policy_schema())
    out = []
    for error in _VALIDATOR.iter_errors(_plain(doc)):
        path = list(error.absolute_path)
        parent, key = _locate(doc, path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {})
            node = _walk(doc, path)
            for extra in (k for k in error.instance if k not in allowed):
                out.append(Problem(*position(node, extra),
                                   f"未知字段 {extra!r}（见 rules/schema.json）",
                                   f"unknown field {extra!r} (see rules/schema.json)"))  # fmt: skip
            continue
        where = position(parent, key) if key is not None else position(parent)
        shown = "/".join(str(p) for p in path) or "(top)"
        out.append(
            Problem(*where, f"{shown} 不符合规则文件格式：{error.message}",
                    f"{shown} does not match the schema: {error.message}")
        )  # fmt: skip
    return out


def _walk(doc: Any, path: list[Any]) -> Any:
    node = doc
    for key in path:
        node = node[key]
    return node


def _locate(doc: Any, path: list[Any]) -> tuple[Any, Any]:
    if not path:
        return doc, None
    return _walk(doc, path[:-1]), path[-1]


def _plain(node: Any) -> Any:
    """ruamel's round-trip values as the plain JSON types the schema speaks of."""
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
