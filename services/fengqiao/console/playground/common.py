"""What the playground's endpoints share: the JSON body a page posts, the draft in it, the
version in force, and words for the codes a policy uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request

from fengqiao.console.context import Console, console_of
from fengqiao.domain.model import Route
from fengqiao.domain.vocabulary import RECIPIENT_ROLES, ROUTE_LABELS, label
from fengqiao.platform.policies import PolicyStore
from fengqiao.platform.settings import Settings
from fengqiao.policy import Policy, read_policy_file
from fengqiao.policy.deadlines import CHINA
from fengqiao.publishing import Draft, directory_for
from fengqiao.v1 import triage_pb2

# Twice the largest rules file the policy reader takes (512 KB): a body beyond is refused
# before it is parsed.
MAX_BODY: Final = 1_048_576
# How problems found in the editor's text name it (where a file has its path).
DRAFT_SOURCE: Final = "草案"
PRIORITIES: Final = {"urgent": "紧急", "normal": "一般"}


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object a page posted; 415, 413 or 400 in words otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "请求应为 JSON（expected application/json）")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, "内容过大（request too large）")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise HTTPException(413, "内容过大（request too large）")
    try:
        data = json.loads(raw)
    except ValueError:
        raise HTTPException(400, "请求应为 JSON（expected a JSON body）") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "请求应为 JSON 对象（expected a JSON object）")
    return data


def text_field(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise HTTPException(400, f"{name} 应为文本（{name} must be a string）")
    return value


async def posted_draft(request: Request) -> tuple[dict[str, Any], Draft]:
    """The JSON object a page posted, and the draft in its `text`."""
    body = await json_body(request)
    return body, draft_of(console_of(request).settings, text_field(body, "text"))


def draft_of(settings: Settings, text: str) -> Draft:
    """The editor's text as `rules publish` would review it beside the configured policy
    file: its cases and samples, and the contact directory found as `rules check` finds it."""
    home = settings.policy_file.parent
    return Draft(
        text.encode(), DRAFT_SOURCE, home, directory_for(settings.policy_file, None, settings)
    )


def samples_dir(settings: Settings) -> Path:
    return settings.policy_file.parent / "samples"


def today() -> date:
    return datetime.now(CHINA).date()


@dataclass(frozen=True, slots=True)
class InForce:
    """The policy the editor starts from: the version in force and where it was read."""

    text: str
    version: str
    label: str
    where: str


async def in_force(console: Console) -> InForce:
    """The active version on the bus; else the version triage decides with; else the
    configured policy file (a bus no triage has started on yet)."""
    store = PolicyStore(console.bus.policies)
    active = await store.active()
    published = await store.get(active.version) if active is not None else None
    if published is not None:
        return InForce(published.text.decode(), published.version, published.label, "现行版本")
    try:
        answer = await console.apis.triage.GetPolicy(triage_pb2.GetPolicyRequest(), timeout=5)
    except grpc.aio.AioRpcError:
        data = read_policy_file(console.settings.policy_file)
        return InForce(data.decode(), "", "", str(console.settings.policy_file))
    return InForce(answer.text, answer.version, answer.label, "分流服务当前版本")


def route_words(policy: Policy | None, code: str) -> str:
    """A route as its label in `policy` (else the vocabulary's), with the code."""
    name = code
    if code in Route._value2member_map_:
        route = Route(code)
        spec = policy.routes.get(route) if policy is not None else None
        name = spec.label if spec is not None and spec.label else ROUTE_LABELS[route]
    return f"{name}（{code}）"


def roles_words(codes: tuple[str, ...] | list[str]) -> str:
    return "、".join(label(RECIPIENT_ROLES, c) for c in codes) or "无"
