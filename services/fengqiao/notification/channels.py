"""Sending one notification through one channel: a signed webhook POST, an email over
SMTP, an SMS through the city's gateway (a signed POST too), or a log line. Each raises
`DeliveryFailed` with the reason when it does not land."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

import aiosmtplib
import httpx
import structlog

from fengqiao.domain.errors import DeliveryFailed
from fengqiao.domain.model import Notification
from fengqiao.notification.directory import Channel

log = structlog.get_logger()

SIGNATURE_HEADER: Final = "X-Fengqiao-Signature"
TIMESTAMP_HEADER: Final = "X-Fengqiao-Timestamp"
ID_HEADER: Final = "X-Fengqiao-Notification-Id"


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    webhook_secret: str = ""
    webhook_timeout_seconds: float = 5.0
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "fengqiao@localhost"
    sms_gateway_url: str = ""
    sms_secret: str = ""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: receivers recompute it, and
    refuse old timestamps to stop replays."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def payload(n: Notification) -> bytes:
    return json.dumps(
        {
            "id": n.id,
            "dispute_id": n.dispute_id,
            "event": n.event,
            "recipient_id": n.recipient_id,
            "recipient": n.recipient_label,
            "message": n.message,
            "created_at": n.created_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode("utf-8")


def sms_payload(n: Notification, phone: str) -> bytes:
    """What the SMS gateway receives: the full number (only it and the party see it)."""
    return json.dumps(
        {"id": n.id, "dispute_id": n.dispute_id, "phone": phone, "text": n.message},
        ensure_ascii=False,
    ).encode("utf-8")


def _logged(n: Notification, reason: str = "") -> None:
    """The `log` channel: who was told and by which template, never the text (it names
    the parties, and logs are beyond the retention job's reach); the text stays in the
    `notifications` bucket and `ListNotifications`."""
    log.info(
        "notification_logged",
        notification_id=n.id,
        recipient=n.recipient_id,
        role=n.recipient_role,
        template=n.event,
        **({"reason": reason} if reason else {}),
    )


class Sender:
    def __init__(self, settings: ChannelSettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client

    async def send(self, channel: Channel, n: Notification) -> str:
        """Send `n`; the kind of channel that carried it (an SMS without a gateway is
        written to the log, so `log`)."""
        match channel.kind:
            case "webhook":
                await self._post(channel.target, self._settings.webhook_secret, n, payload(n))
            case "email":
                await self._email(channel.target, n)
            case "sms" if self._settings.sms_gateway_url:
                body = sms_payload(n, phone=channel.target)
                await self._post(self._settings.sms_gateway_url, self._settings.sms_secret, n, body)
            case "sms":
                _logged(n, reason="no SMS gateway set (FENGQIAO_SMS_GATEWAY_URL)")
                return "log"
            case _:
                _logged(n)
        return channel.kind

    async def _post(self, url: str, secret: str, n: Notification, body: bytes) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            ID_HEADER: n.id,
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(secret, stamp, body),
        }
        try:
            response = await self._client.post(
                url, content=body, headers=headers, timeout=self._settings.webhook_timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")

    async def _email(self, address: str, n: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._settings.smtp_sender
        message["To"] = address
        message["Subject"] = f"【枫桥】纠纷 {n.dispute_id} 通知"
        message["Message-ID"] = f"<{n.id}@fengqiao>"
        message.set_content(n.message)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._settings.smtp_host,
                port=self._settings.smtp_port,
                timeout=self._settings.webhook_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
