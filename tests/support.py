"""Waiting for conditions (never for fixed times) and other test helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import bcrypt

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 30.0
) -> T:
    """Call `probe` until `accept(result)`, backing off from 10 ms to 200 ms; fail after
    `within` seconds with the last result."""
    delay = 0.01
    last: T | None = None
    try:
        async with asyncio.timeout(within):
            while True:
                last = await probe()
                if accept(last):
                    return last
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
    except TimeoutError:
        raise AssertionError(f"condition not met within {within}s; last value: {last!r}") from None


def nats_password_hashes(passwords: Mapping[str, str]) -> str:
    """A `passwords.conf` for `deploy/nats/auth.conf`: each user's bcrypt hash, as
    `deploy/nats/dev-passwords.sh` writes it (at cost 4, not 11: the server checks a hash at
    every connection, and tests connect often)."""
    hashes = {user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)) for user, pw in passwords.items()}
    return "".join(f'{user.upper()}_PASSWORD_HASH: "{h.decode()}"\n' for user, h in hashes.items())


def nats_tls_env(tls: Path) -> dict[str, str]:
    """What `deploy/nats/tls.conf` reads from nats-server's environment: the server's
    certificate, key and CA, as `server.pem`, `server.key` and `ca.pem` in `tls`."""
    return {
        "NATS_TLS_CERT": str(tls / "server.pem"),
        "NATS_TLS_KEY": str(tls / "server.key"),
        "NATS_TLS_CA": str(tls / "ca.pem"),
    }
