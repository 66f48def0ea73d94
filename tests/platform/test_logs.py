"""Binding ids to log lines: what `bound` binds shows on every line within it, and
afterwards the lines show what was bound before, across awaits and in concurrent tasks."""

from __future__ import annotations

import asyncio

import structlog
from structlog.testing import capture_logs

from fengqiao.platform.logs import bound

log = structlog.get_logger()


async def test_bound_ids_show_within_and_are_restored_after() -> None:
    async def handle(dispute_id: str) -> None:
        with bound(dispute_id=dispute_id, step=1):
            await asyncio.sleep(0)
            log.info("inner")

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as lines:
        with bound(dispute_id="outer"):
            await asyncio.gather(handle("a"), handle("b"))
            with bound(dispute_id="nested"):
                log.info("nested")
            log.info("after")
        log.info("unbound")

    inner = sorted((e["dispute_id"], e["step"]) for e in lines if e["event"] == "inner")
    assert inner == [("a", 1), ("b", 1)]
    by_event = {e["event"]: e for e in lines}
    assert by_event["nested"]["dispute_id"] == "nested"
    assert by_event["after"]["dispute_id"] == "outer" and "step" not in by_event["after"]
    assert "dispute_id" not in by_event["unbound"]
