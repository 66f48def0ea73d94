"""Event kinds are named once, in `domain/kinds.py`: their wire values stay what deployed
services and stored records use, every vocabulary keyed by kind holds only kinds, and no
other module of the package spells a kind as a string literal."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from fengqiao.domain.kinds import DECIDED, EventKind
from fengqiao.domain.lifecycle import CLOSING, ESCALATING, EVENTS, assign
from fengqiao.domain.model import Status
from fengqiao.domain.vocabulary import TRIGGERS
from fengqiao.platform.timers import KIND_OF_TIMER
from tests.conftest import ROOT
from tests.domain.test_lifecycle import T0, decision, routed, step

PACKAGE = ROOT / "services" / "fengqiao"
KINDS = PACKAGE / "domain" / "kinds.py"
# The figures count the disputes escalated, in a counter and a column of that name: a
# figure, not the kind.
FIGURES = {
    (module, "escalated")
    for module in (
        "domain/stats.py",
        "readmodel/schema.py",
        "readmodel/migrations/versions/r0001_initial.py",
        "readmodel/migrations/versions/r0002_covering_figures.py",
    )
}


def test_the_wire_values_are_the_deployed_ones() -> None:
    assert {k.value for k in EventKind} == {
        "submitted", "routed", "escalated",
        "accepted", "mediation_started", "mediation_failed", "agreement_reached", "resolved",
        "withdrawn", "info_incomplete", "risk_raised", "follow_up_done", "note",
        "escalation_requested", "repeat_complaint",
        "deadline_expired", "response_expired", "deadline_near", "follow_up_due", "ack_due",
        "received", "notified", "acknowledged", "policy_changed", "anonymised",
    }  # fmt: skip


def test_every_vocabulary_of_kinds_holds_only_kinds() -> None:
    kinds = set(EventKind)
    assert set(EVENTS) <= kinds and set(TRIGGERS) <= kinds
    assert set(KIND_OF_TIMER.values()) <= kinds
    assert set(EVENTS) >= ESCALATING | CLOSING
    assert {EventKind.ROUTED, EventKind.ESCALATED} == DECIDED


def literals(path: Path, *, docstrings: bool = True) -> set[str]:
    """The strings `path` spells, the pieces of its f-strings included; without its
    docstrings if not `docstrings`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    skipped = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if not docstrings
        and isinstance(node, documented)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skipped
    }


def test_no_module_but_kinds_spells_a_kind() -> None:
    # A status shares some names with kinds (a dispute `accepted` is in status accepted).
    kinds = {k.value for k in EventKind} - {s.value for s in Status}
    files = [f for f in sorted(PACKAGE.rglob("*.py")) if f != KINDS and "v1" not in f.parts]
    assert len(files) > 100
    spelled = {(str(f.relative_to(PACKAGE)), v) for f in files for v in literals(f) & kinds}
    assert not spelled - FIGURES
    assert literals(KINDS) & kinds == kinds


def test_a_kind_spelled_like_a_status_is_the_fact_that_puts_a_dispute_in_it() -> None:
    shared = {k.value for k in EventKind} & {s.value for s in Status}
    assert shared == {
        "received", "routed", "accepted", "info_incomplete", "resolved", "withdrawn"
    }  # fmt: skip
    first = routed()  # assigned from status received, as intake stores a dispute
    assert ([e.kind for e in first.timeline], first.status) == ([EventKind.ROUTED], Status.ROUTED)
    at = T0 + timedelta(hours=1)
    accepted = step(first, "accepted", at)
    led_to = {
        kind: step(before, kind, at, reason="当事人说明").status
        for before, kind in (
            (first, "accepted"),
            (first, "info_incomplete"),
            (accepted, "resolved"),
            (first, "withdrawn"),
        )
    }
    assert led_to == {k: Status(k) for k in shared - {"received", "routed"}}
    # The one kind that leads to a status of another name: a rung up waits to be accepted.
    up = assign(accepted, decision(), trigger="escalation_requested", event_id="escalated-1",
                response_due=at)  # fmt: skip
    assert (up.timeline[-1].kind, up.status) == (EventKind.ESCALATED, Status.ROUTED)
