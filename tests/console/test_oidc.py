"""Single sign-on: the console sends the user to the city platform's OpenID Connect
provider and back, and takes the user's roles from the ID token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from fengqiao.platform.console_settings import ConsoleSettings, OidcSettings
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import Stack, running
from tests.conftest import settings_for
from tests.console.conftest import SERVICES, console_url, csrf_of
from tests.console.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, serving


@pytest.fixture
async def sso(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[tuple[Stack, Provider]]:
    async with serving() as provider:
        oidc = OidcSettings(
            f"{provider.issuer}/.well-known/openid-configuration", CLIENT_ID, CLIENT_SECRET
        )
        settings = replace(
            settings_for(nats_server.url),
            console=ConsoleSettings(addr="127.0.0.1:0", oidc=oidc, users_file=tmp_path / "none"),
        )
        async with running(settings, SERVICES) as stack:
            yield stack, provider


async def test_signing_in_goes_through_the_provider_and_keeps_its_roles(
    sso: tuple[Stack, Provider],
) -> None:
    stack, provider = sso
    provider.user = {"sub": "u-1001", "preferred_username": "zhaoli", "name": "赵丽",
                     "roles": ["handler"]}  # fmt: skip
    async with httpx.AsyncClient(base_url=console_url(stack), follow_redirects=True) as client:
        board = await client.get("/board")
        hops = [str(r.url) for r in board.history]
        assert any(h.startswith(f"{provider.issuer}/authorize") for h in hops), hops
        assert board.status_code == 200 and str(board.url).endswith("/board")
        assert "赵丽" in board.text and "办理（签收）" in board.text
        # The handler role came from the token: a write is let through to the service.
        ack = await client.post(
            "/notifications/a.b.0123456789abcdef0123/acknowledge",
            headers={"x-csrf-token": csrf_of(board.text)},
        )
        assert ack.status_code == 400 and "签收失败" in ack.text  # no such notification


async def test_a_user_without_roles_is_a_viewer(sso: tuple[Stack, Provider]) -> None:
    stack, provider = sso
    provider.user = {"sub": "u-1002", "preferred_username": "sunwei", "name": "孙伟"}
    async with httpx.AsyncClient(base_url=console_url(stack), follow_redirects=True) as client:
        board = await client.get("/board")
        assert "孙伟（查看）" in board.text
        refused = await client.post(
            "/notifications/a.b.0123456789abcdef0123/acknowledge",
            headers={"x-csrf-token": csrf_of(board.text)},
        )
        assert refused.status_code == 403


async def test_a_forged_callback_is_refused(sso: tuple[Stack, Provider]) -> None:
    stack, _ = sso
    async with httpx.AsyncClient(base_url=console_url(stack)) as client:
        forged = await client.get("/auth/callback?code=x&state=y")
        assert forged.status_code == 401 and "单点登录失败" in forged.text
        assert (await client.get("/board")).status_code == 303
