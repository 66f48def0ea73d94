"""IntakeService: validate, store, publish. Every submission is idempotent on request_id.

The record is stored before its `submitted` fact is published. When the publish fails (NATS
away: the caller hears UNAVAILABLE), a retry with the same request_id publishes it; if
the caller never retries, intake's sweeper (`sweeper.py`) does."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from nats.js.errors import KeyWrongLastSequenceError

from fengqiao.domain.anonymise import is_anonymised
from fengqiao.domain.errors import AlreadyExists, FieldViolation, InvalidArgument
from fengqiao.domain.ids import check_dispute_id, new_dispute_id
from fengqiao.domain.kinds import DECIDED, EventKind
from fengqiao.domain.lifecycle import apply_event, records_event, validate_event
from fengqiao.domain.model import DisputeRecord, Status, TimelineEntry
from fengqiao.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from fengqiao.domain.validation import validate_submission
from fengqiao.domain.vocabulary import CHANNELS, label
from fengqiao.intake.submission import (
    fingerprint,
    request_key,
    submitted_event,
    submitted_event_id,
)
from fengqiao.platform import redact
from fengqiao.platform.bus import Bus, publish_event
from fengqiao.platform.convert import (
    colour_from_proto,
    colour_to_proto,
    dispute_from_proto,
    dispute_to_proto,
    event_from_proto,
    event_to_proto,
    from_timestamp,
    record_to_proto,
    route_from_proto,
    stats_to_proto,
    status_from_proto,
    status_to_proto,
    timestamp,
)
from fengqiao.platform.store import DisputeStore
from fengqiao.readmodel import DisputeFilter, ReadModel
from fengqiao.v1 import dispute_pb2, events_pb2, intake_pb2, intake_pb2_grpc

log = structlog.get_logger()
MAX_EVENT_ID = 128
# Event ids become parts of NATS subjects and KV keys: no dots, spaces or other scripts.
EVENT_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_EVENT_ID}}}")


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, bus: Bus, reads: ReadModel) -> None:
        self._bus = bus
        self._store = DisputeStore(bus)
        self._reads = reads

    async def SubmitDispute(
        self,
        request: intake_pb2.SubmitDisputeRequest,
        context: grpc.aio.ServicerContext[
            intake_pb2.SubmitDisputeRequest, intake_pb2.SubmitDisputeResponse
        ],
    ) -> intake_pb2.SubmitDisputeResponse:
        dispute = dispute_from_proto(request.dispute)
        redact.remember(dispute)
        validate_submission(request.request_id, dispute)
        now = datetime.now(UTC)
        content = fingerprint(dispute)
        dispute_id, duplicate = await self._claim(request.request_id, content, new_dispute_id(now))
        structlog.contextvars.bind_contextvars(dispute_id=dispute_id)
        # A new claim has no record yet; a repeated one may have lost it to a crash.
        record = await self._store.get(dispute_id) if duplicate else None
        if record is None:
            # First time, or a retry after a crash between claiming the id and storing it.
            dispute = replace(dispute, id=dispute_id, received_at=now)
            record = DisputeRecord(
                dispute=dispute,
                status=Status.RECEIVED,
                request_id=request.request_id,
                timeline=(
                    TimelineEntry(
                        at=now,
                        kind=EventKind.RECEIVED,
                        summary=f"经{label(CHANNELS, dispute.channel)}受理",
                        event_id=submitted_event_id(dispute_id),
                    ),
                ),
            )
            if not await self._store.create(record):
                record = await self._store.require(dispute_id)
        if record.status is Status.RECEIVED:
            await publish_event(self._bus.js, submitted_event(record))
        if duplicate:
            log.info("dispute_resubmitted", request_id=request.request_id)
        else:
            log.info(
                "dispute_received",
                category=dispute.category,
                channel=dispute.channel,
                street=dispute.location.street,
            )
        return intake_pb2.SubmitDisputeResponse(
            dispute_id=dispute_id, duplicate=duplicate, status=status_to_proto(record.status)
        )

    async def _claim(self, request_id: str, content: str, candidate: str) -> tuple[str, bool]:
        """The dispute id for `request_id`: `candidate` if new, else the one it got first."""
        key = request_key(request_id)
        value = json.dumps({"dispute_id": candidate, "fingerprint": content}).encode()
        try:
            await self._bus.requests.create(key, value)
            return candidate, False
        except KeyWrongLastSequenceError:
            pass
        entry = await self._bus.requests.get(key)
        first = json.loads(entry.value or b"{}")
        if first.get("fingerprint") != content:
            raise AlreadyExists(
                f"request_id {request_id!r} 已用于另一件纠纷 {first.get('dispute_id')}，"
                "新纠纷请使用新的 request_id（request_id already used for a different dispute; "
                "use a new request_id for a new dispute）",
                resource_type="request",
                resource_name=f"requests/{request_id}",
            )
        return str(first["dispute_id"]), True

    async def GetDispute(
        self,
        request: intake_pb2.GetDisputeRequest,
        context: grpc.aio.ServicerContext[intake_pb2.GetDisputeRequest, dispute_pb2.DisputeRecord],
    ) -> dispute_pb2.DisputeRecord:
        dispute_id = check_dispute_id(request.dispute_id)
        return record_to_proto(await self._store.require(dispute_id))

    async def ListDisputes(
        self,
        request: intake_pb2.ListDisputesRequest,
        context: grpc.aio.ServicerContext[
            intake_pb2.ListDisputesRequest, intake_pb2.ListDisputesResponse
        ],
    ) -> intake_pb2.ListDisputesResponse:
        which = DisputeFilter(
            status=status_from_proto(request.status),
            colour=colour_from_proto(request.colour),
            route=route_from_proto(request.route),
            street=request.street.strip(),
            community=request.community.strip(),
            category=request.category.strip(),
            overdue=request.overdue,
        )
        page, token = await self._reads.disputes(
            which, request.page_size, request.page_token, datetime.now(UTC)
        )
        return intake_pb2.ListDisputesResponse(
            disputes=[record_to_proto(r) for r in page], next_page_token=token
        )

    async def RecordEvent(
        self,
        request: intake_pb2.RecordEventRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> dispute_pb2.DisputeRecord:
        dispute_id = check_dispute_id(request.dispute_id)
        structlog.contextvars.bind_contextvars(dispute_id=dispute_id)
        event = event_from_proto(request.event)
        validate_event(event)
        event_id = request.event_id.strip() or f"ev-{uuid.uuid4().hex}"
        if not EVENT_ID.fullmatch(event_id):
            raise InvalidArgument(
                [
                    FieldViolation(
                        "event_id",
                        f"事件编号须为 1–{MAX_EVENT_ID} 个字母、数字、- 或 _ "
                        f"（event_id: 1–{MAX_EVENT_ID} letters, digits, - or _）",
                    )
                ]
            )
        now = datetime.now(UTC)

        def record(current: DisputeRecord) -> DisputeRecord | None:
            first = next((e for e in current.timeline if e.event_id == event_id), None)
            if first is None:
                return apply_event(current, event, event_id, now)
            if records_event(first, event) or is_anonymised(current):
                return None  # a retry of an event already recorded
            raise AlreadyExists(
                f"event_id {event_id!r} 已用于该纠纷的另一事件（{first.kind}），"
                "新事件请使用新的 event_id（event_id already used for a different event of "
                "this dispute; use a new event_id for a new event）",
                resource_type="event",
                resource_name=f"disputes/{dispute_id}/events/{event_id}",
            )

        stored = await self._store.update(dispute_id, record)
        redact.remember(stored.dispute)
        await publish_event(
            self._bus.js,
            events_pb2.DisputeEvent(
                event_id=event_id,
                dispute_id=dispute_id,
                kind=event.kind,
                at=timestamp(now),
                dispute=dispute_to_proto(stored.dispute),
                event=event_to_proto(event),
                step=_step_of(stored, event_id),
            ),
        )
        log.info(
            "dispute_event_recorded",
            event_kind=event.kind,
            event_id=event_id,
            status=stored.status.value,
            actor=event.actor,
        )
        return record_to_proto(stored)

    async def GetStats(
        self, request: intake_pb2.GetStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> intake_pb2.Stats:
        since, until = from_timestamp(request, "from"), from_timestamp(request, "to")
        if since is not None and until is not None and since > until:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "from",
                        f"起始时间 {since.isoformat()} 晚于截止时间 {until.isoformat()}"
                        "（from must not be after to）",
                    )
                ]
            )
        stats = await self._reads.stats(
            street=request.street.strip(),
            community=request.community.strip(),
            since=since,
            until=until,
            now=datetime.now(UTC),
        )
        return stats_to_proto(stats)

    async def GetBoard(
        self, request: intake_pb2.GetBoardRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> intake_pb2.Board:
        if not 0 <= request.limit <= MAX_PAGE_SIZE:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "limit",
                        f"每个清单的条数应在 1 到 {MAX_PAGE_SIZE} 之间"
                        f"（limit must be 1..{MAX_PAGE_SIZE}, 0 for {DEFAULT_PAGE_SIZE}）",
                    )
                ]
            )
        now = datetime.now(UTC)
        counts, overdue, due_soon = await self._reads.board(
            request.street.strip(),
            request.community.strip(),
            request.limit or DEFAULT_PAGE_SIZE,
            now,
        )
        return intake_pb2.Board(
            counts=[
                intake_pb2.ColourCount(
                    street=c.street,
                    community=c.community,
                    colour=colour_to_proto(c.colour),
                    count=c.count,
                )
                for c in counts
            ],
            overdue=[record_to_proto(r) for r in overdue],
            due_soon=[record_to_proto(r) for r in due_soon],
            as_of=timestamp(now),
        )


def _step_of(record: DisputeRecord, event_id: str) -> int:
    """The step the dispute was on when `event_id` was recorded (it may have moved on)."""
    step = 0
    for entry in record.timeline:
        if entry.kind in DECIDED:
            step += 1
        if entry.event_id == event_id:
            return step
    return record.step
