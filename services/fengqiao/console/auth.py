"""Signing in, roles and CSRF: every page needs a signed-in user, every write a role and
the session's CSRF token, and every write is logged with who made it.

Sessions are signed cookies (Starlette's SessionMiddleware); a user signs in with the
users file's bcrypt passwords or, in production, through the city platform's single
sign-on (`oidc.py`)."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from fengqiao.console.users import ROLE_LABELS, Role, User

log = structlog.get_logger()

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
Endpoint = Callable[[Request], Awaitable[Response]]


def current_user(request: Request) -> User | None:
    return User.from_session(request.session.get("user"))


def sign_in(request: Request, user: User) -> None:
    """A new session for `user`: a fresh CSRF token, nothing kept from before."""
    request.session.clear()
    request.session["user"] = user.as_session()
    request.session["csrf"] = secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def _csrf_ok(request: Request) -> bool:
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    return isinstance(expected, str) and bool(given) and hmac.compare_digest(expected, given)


def requires(role: Role = Role.VIEWER) -> Callable[[Endpoint], Endpoint]:
    """Endpoint decorator: a signed-in user with `role`; for anything but GET also the
    session's CSRF token. Refusals are answered in words and logged."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = current_user(request)
            writes = request.method not in ("GET", "HEAD")
            if user is None:
                if writes or request.headers.get("accept", "").startswith("text/event-stream"):
                    return PlainTextResponse("请先登录（sign in first）", status_code=401)
                target = quote(
                    request.url.path + (f"?{request.url.query}" if request.url.query else "")
                )
                return RedirectResponse(f"/login?next={target}", status_code=303)
            structlog.contextvars.bind_contextvars(user=user.name)
            if writes and not await _csrf_ok(request):
                log.warning("console_write_refused", reason="csrf", path=request.url.path)
                return PlainTextResponse(
                    "缺少或无效的 CSRF 令牌，请刷新页面后重试（missing or wrong CSRF token: "
                    "reload the page and try again）",
                    status_code=403,
                )
            if not user.may(role):
                log.warning(
                    "console_write_refused" if writes else "console_read_refused",
                    reason="role", role=role.value, path=request.url.path,
                )  # fmt: skip
                return PlainTextResponse(
                    f"需要“{ROLE_LABELS[role]}”权限（this needs the {role.value} role）；"
                    "请联系管理员",
                    status_code=403,
                )
            return await endpoint(request)

        return guarded

    return decorate


def user_of(request: Request) -> User:
    """The signed-in user of an endpoint behind `requires`."""
    user = current_user(request)
    assert user is not None, "behind requires()"
    return user


def safe_next(target: Any) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return target
    return "/board"
