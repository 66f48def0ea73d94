"""Real receivers on loopback for notification tests: an HTTP server that can be told to
fail, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Request:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class HttpReceiver:
    """Answers 503 to the first `fail_first` requests (every one while `failing`), 200 after."""

    fail_first: int = 0
    failing: bool = False
    # Never answer the first request (its sender is killed while it waits).
    hold_first: bool = False
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def status(self) -> int:
        if self.failing or len(self.requests) < self.fail_first:
            return 503
        return 200

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.hold_first and not self.requests:
                    self.requests.append(Request(time.monotonic(), headers, body, 0))
                    await reader.read()  # until the sender's connection goes away
                    return
                status = self.status()
                self.requests.append(Request(time.monotonic(), headers, body, status))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # The receiver is closing with a sender still connected. Returning (rather than
            # ending cancelled) spares Python 3.11's stream callback a spurious traceback.
            return
        finally:
            writer.close()

    def ok(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]


@asynccontextmanager
async def http_receiver(**kwargs: Any) -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver(**kwargs)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()


class _Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@asynccontextmanager
async def smtp_receiver() -> AsyncIterator[tuple[int, list[Message]]]:
    handler = _Collect()
    # aiosmtpd's Controller checks readiness by connecting to the port it was given, so
    # it needs a real one: ask the kernel for a free port first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.messages
    finally:
        controller.stop()
