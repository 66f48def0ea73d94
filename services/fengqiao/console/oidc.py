"""Single sign-on through the city platform's OpenID Connect provider (authorization code
flow with PKCE, by Authlib). The user's console roles come from a claim of the ID token
(`FENGQIAO_CONSOLE_OIDC_ROLES_CLAIM`, default `roles`); a user with none gets `viewer`."""

from __future__ import annotations

from typing import Any

import structlog
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from fengqiao.console.auth import safe_next, sign_in
from fengqiao.console.users import NAME, User, roles_of
from fengqiao.platform.console_settings import OidcSettings

log = structlog.get_logger()
PROVIDER = "city"


def client(settings: OidcSettings) -> OAuth:
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        server_metadata_url=settings.metadata_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )
    return oauth


def _oauth(request: Request) -> Any:
    return request.app.state.oauth.create_client(PROVIDER)


async def start(request: Request, target: str) -> Response:
    request.session["next"] = target
    redirect = str(request.url_for("callback"))
    response: Response = await _oauth(request).authorize_redirect(request, redirect)
    return response


async def callback(request: Request) -> Response:
    settings: OidcSettings | None = request.app.state.console.settings.console.oidc
    if settings is None:
        return RedirectResponse("/login", status_code=303)
    try:
        token = await _oauth(request).authorize_access_token(request)
    except OAuthError as exc:
        log.warning("console_sign_in_failed", via="oidc", error=exc.error)
        return PlainTextResponse(f"单点登录失败（single sign-on failed）: {exc.error}", 401)
    claims = token.get("userinfo") or {}
    name = str(claims.get("preferred_username") or claims.get("sub") or "")
    if not NAME.fullmatch(name):
        name = str(claims.get("sub", ""))[:64]
    target = safe_next(request.session.get("next"))
    user = User(
        name,
        str(claims.get("name") or name),
        roles_of(claims.get(settings.roles_claim, [])),
    )
    sign_in(request, user)
    log.info(
        "console_signed_in", user=user.name, roles=sorted(r.value for r in user.roles), via="oidc"
    )
    return RedirectResponse(target, status_code=303)
