"""The board's live feed: Server-Sent Events from the `disputes` bucket's stream.

Each event is one revision of one dispute (a new dispute, a decision, an escalation, a
handler's report), its id the stream sequence. A page starts after the revision it was
rendered from (`after`); a reconnecting browser sends `Last-Event-ID` and resumes after
the last one it saw. A gap too long to replay is answered with `reset`: the page reloads
its figures and lists instead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Final

import nats.errors
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from fengqiao.console.auth import requires
from fengqiao.console.context import TEMPLATES, console_of
from fengqiao.console.labels import Row
from fengqiao.platform.bus import KV_DISPUTES, kv_stream, kv_subject
from fengqiao.platform.store import record_from_bytes

log = structlog.get_logger()

# A browser away longer than this many revisions reloads instead of replaying them.
MAX_REPLAY: Final = 5_000
KEEPALIVE_SECONDS: Final = 15.0


def _start(request: Request) -> int | None:
    """The sequence after which to resume: Last-Event-ID, else the page's `after`."""
    for raw in (request.headers.get("last-event-id", ""), request.query_params.get("after", "")):
        if raw.strip().isdigit():
            return int(raw)
    return None


def _frame(kind: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"


@requires()
async def live(request: Request) -> Response:
    console = console_of(request)
    js = console.bus.js
    after = _start(request)
    street = request.query_params.get("street", "")
    community = request.query_params.get("community", "")
    info = await js.stream_info(kv_stream(KV_DISPUTES))
    last = int(info.state.last_seq)
    reset = after is not None and last - after > MAX_REPLAY
    if after is None or reset or after >= last:
        deliver, start = DeliverPolicy.NEW, None
    else:
        deliver, start = DeliverPolicy.BY_START_SEQUENCE, after + 1
    sub = await js.subscribe(
        kv_subject(KV_DISPUTES),
        stream=kv_stream(KV_DISPUTES),
        ordered_consumer=True,
        deliver_policy=deliver,
        config=ConsumerConfig(opt_start_seq=start) if start else None,
    )
    log.info("console_live_opened", after=after, replay=bool(start), reset=reset)
    row = TEMPLATES.get_template("_row.html")

    async def frames() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            if reset:
                yield _frame("reset", "{}", last)
            while not await request.is_disconnected():
                try:
                    msg = await sub.next_msg(timeout=KEEPALIVE_SECONDS)
                except nats.errors.TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                seq = msg.metadata.sequence.stream
                if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE") or not msg.data:
                    continue
                record = record_from_bytes(msg.data)
                place = record.dispute.location
                if (street and place.street != street) or (
                    community and place.community != community
                ):
                    continue
                shown = Row.of(record, datetime.now(UTC))
                data = {**shown.as_event(), "html": row.render(r=shown)}
                yield _frame("dispute", json.dumps(data, ensure_ascii=False), seq)
        except asyncio.CancelledError:
            raise
        finally:
            await sub.unsubscribe()
            log.info("console_live_closed")

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [Route("/live", live)]
