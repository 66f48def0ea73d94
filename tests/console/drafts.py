"""Drafts of the shipped policy for the playground's tests: one with a typo, one that
routes a known set of disputes differently."""

from __future__ import annotations

from typing import Final

from tests.conftest import POLICY

SHIPPED: Final = POLICY.read_text(encoding="utf-8")
# The routes' own handler for local disputes: misspelt, it names no one.
HANDLER: Final = "    handler: community_mediation_room\n"
# neighbour-and-property keeps its disputes local; the draft sends them up instead.
LOCAL_NEIGHBOURS: Final = "    route: local\n    deadline: {days: 3}\n"
SENT_UP_RULE: Final = "neighbour-and-property"


def typo() -> tuple[str, int]:
    """The shipped policy with one handler misspelt, and the line it is on."""
    at = SHIPPED.index(HANDLER)
    return SHIPPED.replace(HANDLER, HANDLER.replace("room", "roomx"), 1), SHIPPED[:at].count(
        "\n"
    ) + 1


def neighbours_sent_up() -> str:
    """Loads cleanly; what `neighbour-and-property` decided goes to the street instead, so
    the cases that expect those disputes local fail."""
    assert SHIPPED.count(LOCAL_NEIGHBOURS) == 1
    return SHIPPED.replace(LOCAL_NEIGHBOURS, LOCAL_NEIGHBOURS.replace("local", "street_office"))
