"""NotificationService: who was told what, by recipient or by dispute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from nats.js.api import ConsumerConfig, DeliverPolicy

from fengqiao.convert import decode, notification_from_proto, notification_to_proto
from fengqiao.domain.errors import FieldViolation, InvalidArgument
from fengqiao.domain.model import Notification
from fengqiao.domain.paging import page_of
from fengqiao.intake.submission import check_dispute_id
from fengqiao.platform.bus import (
    KV_NOTIFICATIONS,
    NOTIFY_STREAM,
    Bus,
    kv_values,
    recipient_subject,
)
from fengqiao.v1 import notification_pb2, notification_pb2_grpc


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def ListNotifications(
        self,
        request: notification_pb2.ListNotificationsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> notification_pb2.ListNotificationsResponse:
        recipient = request.recipient_id.strip()
        if request.dispute_id:
            pattern = f"{check_dispute_id(request.dispute_id)}.>"
        elif recipient:
            pattern = ">"
        else:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "recipient_id", "请指定接收人或纠纷编号（give recipient_id or dispute_id）"
                    )
                ]
            )
        found = [
            n for n in await self._read(pattern) if not recipient or n.recipient_id == recipient
        ]
        page, token = page_of(
            found, lambda n: (n.created_at.isoformat(), n.id), request.page_size, request.page_token
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

    async def _read(self, pattern: str) -> list[Notification]:
        return [
            notification_from_proto(decode(value, notification_pb2.Notification()))
            for value in await kv_values(self._bus.js, KV_NOTIFICATIONS, pattern)
        ]
