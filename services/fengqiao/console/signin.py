"""Signing in and out: with the users file's passwords, or the platform's single sign-on."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fengqiao.console import oidc
from fengqiao.console.auth import CSRF_FIELD, csrf_token, current_user, safe_next, sign_in
from fengqiao.console.context import console_of, render

log = structlog.get_logger()


async def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    if current_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    if console_of(request).settings.console.oidc is not None:
        return await oidc.start(request, target)
    return render(request, "login.html", {"next": target, "error": ""})


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await request.form()
    target = safe_next(form.get("next"))
    if console.users is None:
        return RedirectResponse("/login", status_code=303)
    if str(form.get(CSRF_FIELD, "")) != csrf_token(request):
        return render(request, "login.html",
                      {"next": target, "error": "页面已过期，请重新登录"}, 403)  # fmt: skip
    name = str(form.get("name", "")).strip()
    user = console.users.check(name, str(form.get("password", "")))
    if user is None:
        log.warning("console_sign_in_failed", name=name[:64])
        return render(request, "login.html",
                      {"next": target, "error": "用户名或密码不正确"}, 401)  # fmt: skip
    sign_in(request, user)
    log.info(
        "console_signed_in",
        user=user.name,
        roles=sorted(r.value for r in user.roles),
        via="password",
    )
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    user = current_user(request)
    form = await request.form()
    if user is not None and str(form.get(CSRF_FIELD, "")) == request.session.get("csrf"):
        log.info("console_signed_out", user=user.name)
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


ROUTES = [
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/auth/callback", oidc.callback),
]
