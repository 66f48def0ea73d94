"""The durable_rules matcher: the only module that imports `durable`.

durable_rules is used as a stateless first-match matcher, as measured in the project's
notes: each rule's priority is its position, so the first matching rule in file order
consumes the event; one fixed context (`sid`) and one calling thread, so the action runs
inside `post` before it returns. The engine keeps no per-dispute state.

`Host` normally starts two background timer threads that poll the C core for pending
actions and timers every 0.2 s. fengqiao uses neither, and measured here the poller races
`post` for the same action (an event's action ran twice, once on the timer thread). So the
subclass never starts them: every engine call happens on the one thread that owns it, and
an old policy's `Host` leaves nothing running behind.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from durable import engine

from fengqiao.policy.conditions import Json, Op
from fengqiao.policy.facts import PLACE_PARTS, Facts
from fengqiao.policy.model import Rule

_SID = "0"
# Facts carry no `$s`; the engine's own state object does. Requiring its absence keeps
# the context state from ever matching a rule.
_NOT_STATE: Json = {"$nex": {"$s": 1}}
_ALWAYS: Json = {"$ex": {"id": 1}}


# Free text never goes to the engine: matching `.*word.*` patterns over a long summary in
# durable_rules cost two thirds of each decision (8.8k/s against 33k/s with short text).
# Each distinct `mentions` condition becomes a yes/no fact computed before posting.
Mentions = dict[tuple[str, ...], str]


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
                words = tuple(str(v) for v in condition.values)
                terms.append({mentions.setdefault(words, f"mentions_{len(mentions)}"): True})
            else:
                terms.append(condition.to_durable())
        out[rule.id] = {
            "all": [{"m": {"$and": [*(terms or [_ALWAYS]), _NOT_STATE]}}],
            "pri": position,
            "run": rule.id,
        }
    return out, mentions


class _Host(engine.Host):  # type: ignore[misc]  # durable ships no types
    def __init__(self, record: Callable[[str], None]) -> None:
        self._record = record
        super().__init__()

    def _run(self) -> None:
        """Start no background timer threads (see the module docstring)."""

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        def act(_: Any) -> None:
            self._record(action_name)

        return act


class DurableMatcher:
    """First-match over one compiled policy. Not thread-safe: use from one thread only."""

    def __init__(self, rules: Sequence[Rule], name: str = "triage") -> None:
        self._name = name
        self._thread = threading.get_ident()
        self._matched: list[str] = []
        self._ids = itertools.count()
        self._host = _Host(self._matched.append)
        ruleset, self._mentions = compile_ruleset(rules)
        # Post only the facts some condition reads: less JSON through the engine per event.
        self._facts = frozenset(_facts_read(rules))
        # set_rulesets mutates its argument.
        self._host.set_rulesets({name: copy.deepcopy(ruleset)})

    def match(self, facts: Facts) -> str:
        """The id of the first rule in file order whose conditions all hold."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("DurableMatcher used from a thread other than its own")
        event: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in facts.items() if k in self._facts
        }
        summary = str(facts.get("summary", ""))
        for words, flag in self._mentions.items():
            event[flag] = any(word in summary for word in words)
        event["id"] = f"e{next(self._ids)}"
        event["sid"] = _SID
        self._matched.clear()
        self._host.post(self._name, event)
        if len(self._matched) != 1:
            raise RuntimeError(f"durable_rules ran {len(self._matched)} actions for one event")
        return self._matched[0]
