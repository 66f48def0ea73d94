"""The board's live feed: Server-Sent Events from the `disputes` bucket's stream.

Each event is one revision of one dispute (a new dispute, a decision, an escalation, a
handler's report), its id the stream sequence. A page starts after the revision it was
rendered from (`after`); a reconnecting browser sends `Last-Event-ID` and resumes after
the last one it saw. A gap too long to replay is answered with `reset`: the page reloads
its figures and lists instead."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from fengqiao.console.auth import requires
from fengqiao.console.context import TEMPLATES, Console, console_of
from fengqiao.console.labels import Row
from fengqiao.domain.model import DisputeRecord
from fengqiao.platform.bus import KV_DISPUTES, kv_stream, kv_subject
from fengqiao.platform.store import record_from_bytes

log = structlog.get_logger()

# A browser away longer than this many revisions reloads instead of replaying them.
MAX_REPLAY: Final = 5_000
KEEPALIVE_SECONDS: Final = 15.0
# How often a quiet feed looks at the bus connection.
POLL_SECONDS: Final = 1.0


def _start(request: Request) -> int | None:
    """The sequence after which to resume: Last-Event-ID, else the page's `after`."""
    for raw in (request.headers.get("last-event-id", ""), request.query_params.get("after", "")):
        if raw.strip().isdigit():
            return int(raw)
    return None


def _frame(kind: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"


@dataclass(frozen=True, slots=True)
class _Place:
    street: str
    community: str

    def holds(self, record: DisputeRecord) -> bool:
        where = record.dispute.location
        return (not self.street or where.street == self.street) and (
            not self.community or where.community == self.community
        )


async def _follow(console: Console, after: int | None) -> tuple[Subscription, int, bool]:
    """An ordered consumer of the disputes bucket from after `after` (new revisions only
    when None or too far back); the stream's last sequence; whether it was too far."""
    last = await console.last_seq()
    reset = after is not None and last - after > MAX_REPLAY
    replay = after is not None and not reset and after < last
    sub = await console.bus.js.subscribe(
        kv_subject(KV_DISPUTES),
        stream=kv_stream(KV_DISPUTES),
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if replay else DeliverPolicy.NEW,
        config=ConsumerConfig(opt_start_seq=after + 1) if replay and after is not None else None,
    )
    return sub, last, reset


async def _frames(
    request: Request, nc: Client, sub: Subscription, place: _Place, reset_at: int | None
) -> AsyncIterator[str]:
    row = TEMPLATES.get_template("_row.html")
    connected, quiet = True, 0.0
    try:
        yield "retry: 2000\n\n"
        if reset_at is not None:
            yield _frame("reset", "{}", reset_at)
        while not await request.is_disconnected():
            # The wall screen says when the bus is away, and when it is back.
            if nc.is_connected != connected:
                connected = nc.is_connected
                yield _frame("bus", json.dumps({"connected": connected}))
            try:
                msg = await sub.next_msg(timeout=POLL_SECONDS)
            except nats.errors.TimeoutError:
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keepalive\n\n"
                continue
            if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE") or not msg.data:
                continue
            record = record_from_bytes(msg.data)
            if place.holds(record):
                shown = Row.of(record, datetime.now(UTC))
                data = {**shown.as_event(), "html": row.render(r=shown)}
                seq = msg.metadata.sequence.stream
                yield _frame("dispute", json.dumps(data, ensure_ascii=False), seq)
    finally:
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await sub.unsubscribe()
        log.info("console_live_closed")


@requires()
async def live(request: Request) -> Response:
    nc = console_of(request).bus.nc
    after = _start(request)
    try:
        sub, last, reset = await _follow(console_of(request), after)
    except (TimeoutError, nats.errors.Error) as exc:
        # The page opens a new feed after a while (board.js); say why meanwhile.
        log.warning("console_live_unavailable", error=repr(exc))
        return PlainTextResponse(
            "消息总线暂时无法访问，页面将自动重连（the bus did not answer; the page retries）",
            status_code=503,
        )
    log.info("console_live_opened", after=after, reset=reset)
    place = _Place(request.query_params.get("street", ""),
                   request.query_params.get("community", ""))  # fmt: skip
    return StreamingResponse(
        _frames(request, nc, sub, place, last if reset else None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [Route("/live", live)]
