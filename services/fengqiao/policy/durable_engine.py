"""The durable_rules matcher: the only module that imports durable_rules.

durable_rules is used as a stateless first-match matcher, as measured in the project's
notes: each rule's priority is its position, so the first matching rule in file order
consumes the event; one fixed context (`sid`) and one calling thread. The engine keeps no
per-dispute state.

The matcher drives durable_rules' C core (`durable_rules_engine`, the compiled half of the
durable-rules package) directly, not through the Python `durable.engine.Host`:

- per event, `Host.post` also builds an action closure, round-trips the context state
  through JSON and runs a promise chain. Measured on the shipped policy that was half of
  each decision (21k matches/s through `Host`, 46–55k/s straight to the core);
- `Host` starts two background threads that poll the core every 0.2 s, and measured here
  that poller raced `post` for the same action (one event's action ran twice). With no
  `Host` there is no thread besides the caller's.

Per event the core is asked to: assert the event (the rules match it), start the action
it produced (which names the rule that consumed it), and complete that action.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from typing import Any

import durable_rules_engine as core

from fengqiao.policy.conditions import Condition, Json, Op
from fengqiao.policy.facts import PLACE_PARTS, Facts
from fengqiao.policy.model import Rule

_SID = "0"
# Facts carry no `$s`; the engine's own state object does. Requiring its absence keeps
# the context state from ever matching a rule.
_NOT_STATE: Json = {"$nex": {"$s": 1}}
_ALWAYS: Json = {"$ex": {"id": 1}}
# `assert_event` result codes (durable_rules 2.0.28): 0 = matched and an action is pending.
_MATCHED = 0
_RESULTS = {1: "no rule matched", 2: "event id already seen"}


# Free text never goes to the engine: matching `.*word.*` patterns over a long summary in
# durable_rules cost two thirds of each decision (8.8k/s against 33k/s with short text).
# Each distinct `mentions` condition becomes a yes/no fact computed before posting, with
# the condition's own test (`Condition.holds`: negations and phrases included).
Mentions = dict[Condition, str]


def _facts_read(rules: Sequence[Rule]) -> set[str]:
    out: set[str] = set()
    for rule in rules:
        for condition in rule.conditions:
            if condition.op is Op.WITHIN:
                out.update(PLACE_PARTS)  # prefixes compile to equalities on the parts
            elif condition.op is not Op.MENTIONS:
                out.add(condition.fact)
    return out


def compile_ruleset(rules: Sequence[Rule]) -> tuple[dict[str, Json], Mentions]:
    """The durable_rules JSON ruleset for `rules` (priority = position in the file), and
    the flag fact standing for each `mentions` condition."""
    out: dict[str, Json] = {}
    mentions: Mentions = {}
    for position, rule in enumerate(rules):
        terms = []
        for condition in rule.conditions:
            if condition.op is Op.MENTIONS:
                flag = mentions.setdefault(condition, f"mentions_{len(mentions)}")
                terms.append({flag: True})
            else:
                terms.append(condition.to_durable())
        out[rule.id] = {
            "all": [{"m": {"$and": [*(terms or [_ALWAYS]), _NOT_STATE]}}],
            "pri": position,
        }
    return out, mentions


def _rule_named(message: str) -> str:
    """The rule id in an action message, which the core writes as `{"<rule id>":{...}}`.
    Rule ids are `[a-z0-9_-]` (the schema), so they need no JSON unescaping."""
    return message[2 : message.index('"', 2)]


class DurableMatcher:
    """First-match over one compiled policy. Not thread-safe: use from one thread only.

    The core keeps a compiled ruleset (~160 KB) for the life of the process; policies
    are compiled once at start, so that is a fixed cost."""

    def __init__(self, rules: Sequence[Rule], name: str = "triage") -> None:
        self._thread = threading.get_ident()
        self._event_ids = itertools.count()
        self._rule_ids = frozenset(rule.id for rule in rules)
        ruleset, self._mentions = compile_ruleset(rules)
        # Post only the facts some condition reads: less JSON through the engine per event.
        self._facts = frozenset(_facts_read(rules))
        self._ruleset: int | None = core.create_ruleset(
            name, json.dumps(ruleset, ensure_ascii=False)
        )

    def match(self, facts: Facts) -> str:
        """The id of the first rule in file order whose conditions all hold."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("DurableMatcher used from a thread other than its own")
        event: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in facts.items() if k in self._facts
        }
        for condition, flag in self._mentions.items():
            event[flag] = condition.holds(facts)
        event["id"] = f"e{next(self._event_ids)}"
        event["sid"] = _SID
        code, state = core.assert_event(self._ruleset, json.dumps(event, ensure_ascii=False))
        if code != _MATCHED:
            raise RuntimeError(f"durable_rules: {_RESULTS.get(code, f'result {code}')}")
        action = core.start_action_for_state(self._ruleset, state)
        if action is None:
            raise RuntimeError("durable_rules matched an event but started no action")
        if core.complete_and_start_action(self._ruleset, state):
            raise RuntimeError("durable_rules started a second action for one event")
        rule_id = _rule_named(action[1])
        if rule_id not in self._rule_ids:
            raise RuntimeError(f"durable_rules named an unknown rule: {action[1][:80]!r}")
        return rule_id

    def close(self) -> None:
        """Free the core's compiled ruleset, which it otherwise keeps for the life of the
        process: for a process that compiles many drafts (the console). The core refuses a
        match after it."""
        if self._ruleset is None:
            return
        if threading.get_ident() != self._thread:
            raise RuntimeError("DurableMatcher closed from a thread other than its own")
        core.delete_ruleset(self._ruleset)
        self._ruleset = None
