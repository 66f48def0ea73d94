"""rules/schema.json is generated from the checker's vocabularies and agrees with it."""

from __future__ import annotations

import json

import pytest

from fengqiao.policy import PolicyError, parse_policy
from fengqiao.policy.schema import policy_schema, schema_problems
from fengqiao.policy.yaml_safe import read_yaml
from tests.conftest import POLICY, ROOT
from tests.policy.test_load import DEFAULT, HEAD, rule

SCHEMA = ROOT / "rules" / "schema.json"


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert committed == policy_schema(), "run: fengqiao rules schema > rules/schema.json"


def test_the_live_policy_points_editors_at_the_schema_and_satisfies_it() -> None:
    text = POLICY.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./schema.json\n")
    assert schema_problems(read_yaml(text.encode(), "p")) == []


@pytest.mark.parametrize(
    "bad",
    [
        rule("a", "{categroy: labour_wages}"),
        rule("a", "{category: labour}"),
        rule("a", "{amount: {at_least: -5}}"),
        rule("a", "{category: {at_least: 3}}"),
        rule("a", "{risk_flags: {any_of: []}}"),
        rule("a", route="court"),
        rule("A b", "{category: other}"),
        rule("a", "{category: other}") + "    deadline: {weeks: 2}\n",
        rule("a", "{category: other}") + "    deadline: {days: 90}\n",
        rule("a", "{category: other}") + "    handler: mayor\n",
    ],
)
def test_what_the_checker_refuses_the_schema_flags_too(bad: str) -> None:
    text = HEAD + bad + DEFAULT
    with pytest.raises(PolicyError):
        parse_policy(text.encode(), "t")
    assert schema_problems(read_yaml(text.encode(), "t")), "the editor would not flag this"
