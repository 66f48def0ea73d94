"""The console's ASGI app: its routes, signed sessions, static files and error pages."""

from __future__ import annotations

import secrets

import grpc
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fengqiao.console import board, live, oidc, playground, signin
from fengqiao.console.context import Console

log = structlog.get_logger()

SESSION_HOURS = 12


async def _home(request: Request) -> Response:
    return RedirectResponse("/board", status_code=303)


async def _healthz(request: Request) -> Response:
    """For the orchestrator's probes: the console's HTTP server answers; no session needed."""
    return PlainTextResponse("ok")


async def _unavailable(request: Request, exc: Exception) -> Response:
    """A service behind the console did not answer: say so, in words, not a stack trace."""
    assert isinstance(exc, grpc.aio.AioRpcError)
    log.warning("console_backend_failed", path=request.url.path, code=exc.code().name,
                details=exc.details())  # fmt: skip
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return PlainTextResponse(f"请求无效：{exc.details()}", status_code=400)
    return PlainTextResponse(
        f"后台服务暂时无法应答，请稍后刷新（a service did not answer: {exc.code().name}）",
        status_code=503,
    )


def build_app(console: Console) -> Starlette:
    settings = console.settings.console
    if not settings.secret:
        log.warning("console_session_key_random",
                    hint="set FENGQIAO_CONSOLE_SECRET so sessions survive a restart")  # fmt: skip
    app = Starlette(
        routes=[
            Route("/", _home),
            Route("/healthz", _healthz),
            *signin.ROUTES,
            *board.ROUTES,
            *live.ROUTES,
            *playground.ROUTES,
            Mount("/static", StaticFiles(packages=[("fengqiao.console", "static")]), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret or secrets.token_urlsafe(32),
                session_cookie="fengqiao_console",
                max_age=SESSION_HOURS * 3600,
                same_site="lax",
                https_only=settings.secure_cookies,
            )
        ],
        exception_handlers={grpc.aio.AioRpcError: _unavailable},
    )
    app.state.console = console
    if settings.oidc is not None:
        app.state.oauth = oidc.client(settings.oidc)
    return app
