"""A draft replayed on the stored history (`policy/replay.py`), with what that needs from
outside the pure core: the records of a period off the read model (`readmodel/history.py`)
and the published versions that decided them (the `policies` bucket). Writes nothing.
Used by `fengqiao rules replay` and the console's playground."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine

from fengqiao.platform.policies import Activation, PublishedVersion, source_of
from fengqiao.platform.store import record_from_bytes
from fengqiao.policy import CompiledPolicy, PolicyError, parse_policy
from fengqiao.policy.deadlines import CHINA
from fengqiao.policy.replay import ReplayReport, replay
from fengqiao.readmodel.history import stored_records


class PublishedPolicies:
    """Each published version compiled the first time a step names it; `close` frees
    their engines (a replay decides with the plain evaluator only)."""

    def __init__(self, published: list[PublishedVersion]) -> None:
        self._texts = {v.version: v.text for v in published}
        self._compiled: dict[str, CompiledPolicy | None] = {}

    def __call__(self, version: str) -> CompiledPolicy | None:
        if version not in self._compiled:
            text = self._texts.get(version)
            try:
                self._compiled[version] = (
                    None if text is None else CompiledPolicy(parse_policy(text, source_of(version)))
                )
            except PolicyError:  # this code no longer reads it: decided by the fallback
                self._compiled[version] = None
        return self._compiled[version]

    def close(self) -> None:
        for compiled in self._compiled.values():
            if compiled is not None:
                compiled.close()
        self._compiled.clear()


def _start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), CHINA)


def replay_history(
    engine: Engine,
    published: list[PublishedVersion],
    active: Activation | None,
    draft: CompiledPolicy,
    *,
    first: date | None = None,
    last: date | None = None,
    street: str = "",
) -> ReplayReport:
    """Every dispute received from day `first` to day `last` (China's days, both included;
    None: no bound), in `street` if given, decided again, step
    by step, by the version that decided it and by `draft`. A step of a version not on the
    bus is decided "before" by the active version (else by the draft). CPU- and I/O-bound:
    run it off an event loop."""
    versions = PublishedPolicies(published)
    try:
        fallback = (versions(active.version) if active is not None else None) or draft
        records = (
            record_from_bytes(data)
            for data in stored_records(
                engine,
                since=_start(first),
                until=_start(last + timedelta(days=1)) if last is not None else None,
                street=street,
            )
        )
        return replay(records, versions, fallback, draft)
    finally:
        versions.close()
