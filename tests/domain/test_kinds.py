"""Event kinds are named once, in `domain/kinds.py`: their wire values stay what deployed
services and stored records use, every vocabulary keyed by kind holds only kinds, and no
module along the journey spells a kind as a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

from fengqiao.domain.kinds import DECIDED, EventKind
from fengqiao.domain.lifecycle import CLOSING, ESCALATING, EVENTS
from fengqiao.domain.model import Status
from fengqiao.domain.vocabulary import TRIGGERS
from fengqiao.platform.timers import KIND_OF_TIMER
from tests.conftest import ROOT

PACKAGE = ROOT / "services" / "fengqiao"
# Where a dispute's journey is written: the services, the platform under them, the
# status machine and the vocabularies.
JOURNEY = (
    *(PACKAGE / d for d in ("intake", "triage", "notification", "platform")),
    PACKAGE / "domain" / "lifecycle.py",
    PACKAGE / "domain" / "vocabulary.py",
)


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


def literals(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_no_module_along_the_journey_spells_a_kind() -> None:
    # A status shares some names with kinds (a dispute `accepted` is in status accepted).
    kinds = {k.value for k in EventKind} - {s.value for s in Status}
    files = [f for p in JOURNEY for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])]
    assert len(files) > 30
    spelled = {(str(f.relative_to(PACKAGE)), v) for f in files for v in literals(f) & kinds}
    assert not spelled
