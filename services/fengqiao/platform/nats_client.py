"""The NATS connection of one service: who it is (a user and password per service), that
it talks to the real server (TLS against the city's CA, optionally with a client
certificate), and how long it waits for the server at start.

`deploy/nats/auth.conf` gives each service user only the subjects it needs.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from fengqiao.domain.errors import NatsConnectError
from fengqiao.platform.nats_lean import Client
from fengqiao.platform.setting_files import missing_files

log = structlog.get_logger()

# Answers that retrying cannot change: stop at once rather than wait out the timeout.
_REFUSALS: Final = ("authorization violation", "authentication", "certificate")


def inbox_prefix(service: str) -> str:
    """Where replies to `service` arrive. One prefix per service lets the server's
    permissions keep each service from reading another's replies."""
    return f"_INBOX_{service}"


@dataclass(frozen=True, slots=True)
class NatsOptions:
    user: str = ""
    password: str = ""
    # CA bundle that signed the server's certificate: setting it turns TLS on.
    tls_ca: Path | None = None
    # A client certificate and its key, for servers that verify clients (mutual TLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # How long a starting service waits for NATS before it gives up (and is restarted).
    connect_wait_seconds: float = 60.0

    def problems(self) -> list[str]:
        """What is wrong with these settings, as FENGQIAO_* variable names and a fix."""
        out = []
        if bool(self.user) != bool(self.password):
            out.append("set FENGQIAO_NATS_USER and FENGQIAO_NATS_PASSWORD together, or neither")
        if (self.tls_cert is None) != (self.tls_key is None):
            out.append("set FENGQIAO_NATS_TLS_CERT and FENGQIAO_NATS_TLS_KEY together, or neither")
        return out + missing_files(
            {
                "FENGQIAO_NATS_TLS_CA": self.tls_ca,
                "FENGQIAO_NATS_TLS_CERT": self.tls_cert,
                "FENGQIAO_NATS_TLS_KEY": self.tls_key,
            }
        )

    @property
    def uses_tls(self) -> bool:
        return self.tls_ca is not None or self.tls_cert is not None

    def describe(self) -> str:
        who = f"user {self.user!r}" if self.user else "no user"
        return f"{who}, TLS {'on' if self.uses_tls else 'off'}"

    def connect_options(self, service: str) -> dict[str, Any]:
        """Keyword arguments for `Client.connect`."""
        options: dict[str, Any] = {"inbox_prefix": inbox_prefix(service)}
        if self.user:
            options.update(user=self.user, password=self.password)
        if self.uses_tls:
            context = ssl.create_default_context(
                cafile=str(self.tls_ca) if self.tls_ca is not None else None
            )
            if self.tls_cert is not None and self.tls_key is not None:
                context.load_cert_chain(self.tls_cert, self.tls_key)
            options["tls"] = context
        return options


# No user, no TLS: the embedded loopback server of `fengqiao up`, the demo and tests.
PLAIN: Final = NatsOptions()


def server_urls(url: str) -> list[str]:
    """The servers of `FENGQIAO_NATS_URL`: one URL, or the nodes of a cluster separated by
    commas (`nats://a:4222,nats://b:4222`). The client tries them in turn and moves to
    another when its node goes away."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def open_connection(url: str, service: str, options: NatsOptions = PLAIN) -> Client:
    """A connected client that reconnects forever once up. At start it waits up to
    `connect_wait_seconds` for the server, and gives up at once if the server refuses
    the credentials or the certificate. `url` may list several servers (`server_urls`)."""
    refused: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
    last: list[BaseException] = []

    async def on_error(exc: Exception) -> None:
        last[:] = [exc]
        if not refused.done() and any(word in str(exc).lower() for word in _REFUSALS):
            refused.set_result(exc)
        log.warning("nats_error", error=str(exc) or type(exc).__name__)

    async def on_disconnect() -> None:
        if not nc.is_closed:  # an orderly close() is not worth a warning
            log.warning("nats_disconnected")

    async def on_reconnect() -> None:
        log.info("nats_reconnected")

    nc = Client()
    connecting = asyncio.ensure_future(
        nc.connect(
            server_urls(url),
            name=f"fengqiao-{service}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            **options.connect_options(service),
        )
    )
    either: set[asyncio.Future[Any]] = {connecting, refused}
    try:
        await asyncio.wait(
            either,
            timeout=options.connect_wait_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:  # also when the service is told to stop while it waits
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        if connecting.cancelled() or connecting.exception() is not None:
            await nc.close()
    if connecting.cancelled() or connecting.exception() is not None:
        if refused.done():
            what = f"NATS at {url} refused this service ({options.describe()})"
            cause = refused.result()
        else:
            what = f"cannot reach NATS at {url} within {options.connect_wait_seconds:g}s"
            failed = None if connecting.cancelled() else connecting.exception()
            cause = failed or (last[0] if last else TimeoutError("no answer"))
        raise NatsConnectError(
            f"{what}: {str(cause) or type(cause).__name__}. Check FENGQIAO_NATS_URL, "
            "FENGQIAO_NATS_USER/PASSWORD and FENGQIAO_NATS_TLS_*"
        )
    return nc
