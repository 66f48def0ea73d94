"""What every endpoint of the console reaches: the services' APIs, the bus, the users, and
the page templates (rendered with the user and the CSRF token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from nats.js.errors import NotFoundError
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fengqiao.console.apis import Apis
from fengqiao.console.auth import csrf_token, current_user
from fengqiao.console.history import History
from fengqiao.console.labels import COLOURS, DELIVERIES, KINDS, when
from fengqiao.console.summaries import SharedSummaries
from fengqiao.console.users import ROLE_LABELS, UsersFile
from fengqiao.domain.vocabulary import CATEGORIES, ROUTE_LABELS
from fengqiao.platform.bus import KV_DISPUTES, Bus, kv_stream
from fengqiao.platform.settings import Settings

TEMPLATES = Environment(
    loader=PackageLoader("fengqiao.console", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = when
TEMPLATES.globals.update(
    colours=COLOURS,
    deliveries=DELIVERIES,
    kinds=KINDS,
    categories=CATEGORIES,
    routes={r.value: t for r, t in ROUTE_LABELS.items()},
)


@dataclass(frozen=True, slots=True)
class Console:
    settings: Settings
    apis: Apis
    bus: Bus
    users: UsersFile | None
    history: History  # the read model, for the playground's replay
    # The board's figures, computed once for every page showing the same filter.
    summaries: SharedSummaries = field(default_factory=SharedSummaries)

    async def last_seq(self) -> int:
        """The last revision written to the disputes bucket: a page rendered now is
        followed live from the next one."""
        try:
            info = await self.bus.js.stream_info(kv_stream(KV_DISPUTES))
        except NotFoundError:
            return 0
        return int(info.state.last_seq)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(
    request: Request, template: str, values: dict[str, Any], status: int = 200
) -> HTMLResponse:
    user = current_user(request)
    page = TEMPLATES.get_template(template).render(
        request=request,
        user=user,
        role_labels=ROLE_LABELS,
        csrf=csrf_token(request),
        sso=console_of(request).settings.console.oidc is not None,
        **values,
    )
    return HTMLResponse(page, status_code=status)
