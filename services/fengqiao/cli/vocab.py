"""`fengqiao vocab [NAME]`: every closed vocabulary the API takes, each code with its
Chinese label, so a caller refused for an unknown value can see every allowed one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Final

from fengqiao.domain.lifecycle import EVENTS
from fengqiao.domain.vocabulary import (
    CATEGORIES,
    CHANNELS,
    PARTY_ROLES,
    RECIPIENT_ROLES,
    RISK_FLAGS,
    TRIGGERS,
)

# name → (where it is used, code → label)
VOCABULARIES: Final[Mapping[str, tuple[str, Mapping[str, str]]]] = {
    "category": ("dispute.category", CATEGORIES),
    "channel": ("dispute.channel", CHANNELS),
    "risk_flag": ("dispute.risk_flags, event.risk_flags", RISK_FLAGS),
    "party_role": ("dispute.parties[].role", PARTY_ROLES),
    "event": ("RecordEvent event.kind", EVENTS),
    "recipient_role": ("rules: notify; directory roles", RECIPIENT_ROLES),
    "trigger": ("rules: escalation on", TRIGGERS),
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vocab = sub.add_parser("vocab", help="the allowed values of every coded field, with labels")
    vocab.add_argument("name", nargs="?", help=f"one of: {', '.join(VOCABULARIES)}")


def run(name: str | None) -> int:
    if name is not None and name not in VOCABULARIES:
        print(
            f"没有名为 {name!r} 的词表，可选：{', '.join(VOCABULARIES)}（no vocabulary {name!r}）",
            file=sys.stderr,
        )
        return 2
    for key, (where, codes) in VOCABULARIES.items():
        if name not in (None, key):
            continue
        print(f"{key}（{where}）")
        width = max(len(code) for code in codes)
        for code, text in codes.items():
            print(f"  {code:<{width}}  {text}")
    return 0
