"""NotificationService: who was told what, by recipient or by dispute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy

from fengqiao.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from fengqiao.domain.ids import check_dispute_id
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import Notification, TimelineEntry
from fengqiao.notification import acks
from fengqiao.platform.bus import (
    NOTIFY_STREAM,
    Bus,
    recipient_subject,
)
from fengqiao.platform.cas import Outcome, compare_and_set
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.convert import notification_to_proto
from fengqiao.platform.store import DisputeStore, notification_from_bytes
from fengqiao.readmodel import ReadModel
from fengqiao.v1 import notification_pb2, notification_pb2_grpc

log = structlog.get_logger()


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, bus: Bus, reads: ReadModel) -> None:
        self._bus = bus
        self._store = DisputeStore(bus)
        self._reads = reads

    async def ListNotifications(
        self,
        request: notification_pb2.ListNotificationsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> notification_pb2.ListNotificationsResponse:
        recipient = request.recipient_id.strip()
        if not request.dispute_id and not recipient:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "recipient_id", "请指定接收人或纠纷编号（give recipient_id or dispute_id）"
                    )
                ]
            )
        dispute = check_dispute_id(request.dispute_id) if request.dispute_id else ""
        page, token = await self._reads.notifications(
            dispute, recipient, request.page_size, request.page_token
        )
        return notification_pb2.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in page], next_page_token=token
        )

    async def StreamNotifications(
        self,
        request: notification_pb2.StreamNotificationsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[notification_pb2.Notification]:
        recipient = request.recipient_id.strip()
        if not recipient:
            raise InvalidArgument(
                [FieldViolation("recipient_id", "请指定接收人（recipient_id is required）")]
            )
        sub = await self._bus.js.subscribe(
            recipient_subject(recipient),
            stream=NOTIFY_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=max(request.from_sequence, 1)),
        )
        try:
            async for msg in sub.messages:
                notification = decode(msg.data, notification_pb2.Notification())
                notification.sequence = msg.metadata.sequence.stream
                yield notification
        finally:
            await sub.unsubscribe()

    async def Acknowledge(
        self,
        request: notification_pb2.AcknowledgeRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> notification_pb2.Notification:
        key, who = request.notification_id.strip(), request.who.strip()
        problems = []
        if not acks.NOTIFICATION_ID.fullmatch(key):
            problems.append(
                FieldViolation("notification_id", "通知编号无效（not a notification id）")
            )
        if not who:
            problems.append(FieldViolation("who", "请填写确认人（who is required）"))
        if problems:
            raise InvalidArgument(problems)
        # The assignment's acknowledgement timer stays: when it fires, it passes over
        # the notifications acknowledged by then.
        acknowledged = await self._acknowledge(key, who)
        entry = TimelineEntry(
            at=acknowledged.acknowledged_at or datetime.now(UTC),
            kind=EventKind.ACKNOWLEDGED,
            summary=f"{acknowledged.recipient_label}确认接收（{who}）",
            event_id=f"ack-{key}",
            actor=who,
        )
        await self._store.append_once(acknowledged.dispute_id, entry)
        log.info(
            "notification_acknowledged",
            notification_id=key,
            who=who,
            dispute_id=acknowledged.dispute_id,
        )
        return notification_to_proto(acknowledged)

    async def _acknowledge(self, key: str, who: str) -> Notification:
        def decide(current: Notification | None) -> Outcome[Notification]:
            if current is None:
                raise NotFound(
                    f"没有编号为 {key} 的通知（no notification {key}）",
                    resource_type="notification",
                    resource_name=f"notifications/{key}",
                )
            if current.acknowledged_at is not None:
                return Outcome(current)
            if not current.needs_ack:
                raise FailedPrecondition(
                    "此通知无需确认（this notification needs no acknowledgement）",
                    kind="NO_ACK_NEEDED",
                    subject=f"notifications/{key}",
                )
            done = replace(current, acknowledged_at=datetime.now(UTC), acknowledged_by=who)
            return Outcome(done, encode(notification_to_proto(done)))

        written = await compare_and_set(
            self._bus.notifications, key, notification_from_bytes, decide
        )
        return written.result
