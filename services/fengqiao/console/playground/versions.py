"""Publishing the editor's text and rolling back, for the `policy` role: the same review
and the same writes as `fengqiao rules publish | rollback` (`fengqiao.publishing`), each
write logged with the user who made it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fengqiao import publishing
from fengqiao.console.auth import requires, user_of
from fengqiao.console.context import console_of, render
from fengqiao.console.playground.checks import review_values
from fengqiao.console.playground.common import json_body, posted_draft, text_field, today
from fengqiao.console.users import Role, User
from fengqiao.domain.errors import InvalidArgument, NotFound
from fengqiao.platform.policies import PolicyStore

log = structlog.get_logger()


def _who(user: User) -> str:
    return f"{user.display}（{user.name}）"


@requires(Role.POLICY)
async def publish(request: Request) -> Response:
    console = console_of(request)
    body, draft = await posted_draft(request)
    comment = text_field(body, "comment").strip()
    if not comment:
        return render(request, "_pg_outcome.html",
                      {"refused": "请填写这次修改的说明（发布说明不能为空）"}, 400)  # fmt: skip
    reviewed = await asyncio.to_thread(publishing.review, draft, today())
    if not reviewed.passed:
        log.warning("console_policy_publish_refused",
                    policy_version=reviewed.policy.version if reviewed.policy else "")  # fmt: skip
        return render(
            request, "_pg_outcome.html",
            {"refused": "未通过检查或用例，未发布", **review_values(reviewed)}, 422,
        )  # fmt: skip
    done = await publishing.publish(
        PolicyStore(console.bus.policies), reviewed,
        comment=comment, by=_who(user_of(request)), now=datetime.now(UTC),
    )  # fmt: skip
    log.info("console_policy_published", policy_version=done.version, label=done.label,
             new=done.new, comment=comment)  # fmt: skip
    return render(request, "_pg_outcome.html", {"published": done})


@requires(Role.POLICY)
async def rollback(request: Request) -> Response:
    console = console_of(request)
    body = await json_body(request)
    named, comment = text_field(body, "version"), text_field(body, "comment")
    try:
        done = await publishing.rollback(
            PolicyStore(console.bus.policies), console.bus.js, named,
            comment=comment, by=_who(user_of(request)), now=datetime.now(UTC),
        )  # fmt: skip
    except NotFound as exc:
        return render(request, "_pg_outcome.html", {"refused": str(exc)}, 404)
    except InvalidArgument as exc:
        said = "；".join(v.description for v in exc.violations)
        return render(request, "_pg_outcome.html", {"refused": said}, 400)
    version = done.version
    if not done.already_active:
        log.info("console_policy_rolled_back", policy_version=version.version,
                 label=version.label, comment=comment.strip())  # fmt: skip
    return render(request, "_pg_outcome.html", {"rolled_back": done})


ROUTES = [
    Route("/playground/publish", publish, methods=["POST"]),
    Route("/playground/rollback", rollback, methods=["POST"]),
]
