"""The console on a real stack: nats-server, the three services and the console on
127.0.0.1, with a users file of three users, one per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from fengqiao.console.users import NewUser, Role, write_users_file
from fengqiao.platform.console_settings import ConsoleSettings
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import Stack, running
from tests.conftest import settings_for

PASSWORD = "console-test-password"
# One user per role, named after it.
USERS = ("viewer", "handler", "policy")
SERVICES = ("intake", "triage", "notification", "console")


def write_users(path: Path) -> Path:
    users = (NewUser(name, f"测试{name}", (Role(name),), PASSWORD) for name in USERS)
    # Cost 4: the file is the test's; the console checks any bcrypt cost.
    return write_users_file(path, users, rounds=4)


@pytest.fixture
async def console_stack(nats_server: EmbeddedNats, tmp_path: Path) -> AsyncIterator[Stack]:
    base = settings_for(nats_server.url)
    settings = replace(
        base,
        console=ConsoleSettings(
            addr="127.0.0.1:0", users_file=write_users(tmp_path / "users.yaml")
        ),
    )
    async with running(settings, SERVICES) as stack:
        yield stack


def console_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.port('console')}"


@asynccontextmanager
async def signed_in(stack: Stack, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as `name`."""
    async with httpx.AsyncClient(base_url=console_url(stack), follow_redirects=False) as client:
        await sign_in(client, name)
        yield client


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> None:
    """Sign `client` (at the console's base URL) in as `name`, as the login page does."""
    page = await client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = await client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token, "next": "/board"},
    )
    assert done.status_code == 303, done.text


def csrf_of(html: str) -> str:
    return html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
