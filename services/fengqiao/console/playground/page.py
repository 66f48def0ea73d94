"""The playground's page: the editor on the version in force, the samples to explain, and
the published versions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fengqiao.console.auth import requires, user_of
from fengqiao.console.context import Console, console_of, render
from fengqiao.console.playground.common import in_force, samples_dir
from fengqiao.console.playground.replay import default_period
from fengqiao.console.users import Role
from fengqiao.domain.errors import SampleError
from fengqiao.domain.model import Route as Level
from fengqiao.domain.vocabulary import CATEGORIES, TRIGGERS, label
from fengqiao.platform.policies import PolicyStore
from fengqiao.samples import read_submission, sample_files

_ACTIONS = {"publish": "发布", "rollback": "回滚", "bootstrap": "初始"}
# The activations listed, newest first.
SHOWN_ACTIVATIONS = 20


@dataclass(frozen=True, slots=True)
class Sample:
    name: str  # the file's name in rules/samples
    text: str  # what the dropdown says


def samples(directory: Path) -> list[Sample]:
    out = []
    for path in sample_files(directory):
        try:
            dispute = read_submission(path).dispute
        except SampleError:
            continue
        summary = dispute.summary if len(dispute.summary) <= 24 else dispute.summary[:23] + "…"
        category = label(CATEGORIES, dispute.category)
        out.append(Sample(path.name, f"{path.stem[:2]} · {category}：{summary}"))
    return out


async def versions_values(request: Request) -> dict[str, object]:
    """The published versions (newest first, the one in force marked) and the latest
    activations, for `_pg_versions.html`."""
    console: Console = console_of(request)
    store = PolicyStore(console.bus.policies)
    js = console.bus.js
    published, log = await asyncio.gather(store.versions(js), store.activations(js))
    active = log[-1].version if log else ""
    return {
        "versions": list(reversed(published)),
        "active": active,
        "activations": list(reversed(log))[:SHOWN_ACTIVATIONS],
        "actions": _ACTIONS,
        "may_publish": user_of(request).may(Role.POLICY),
    }


@requires()
async def playground_page(request: Request) -> Response:
    console = console_of(request)
    current, shown, listed = await asyncio.gather(
        in_force(console),
        asyncio.to_thread(samples, samples_dir(console.settings)),
        versions_values(request),
    )
    first, last = default_period()
    return render(
        request, "playground.html",
        {"current": current, "samples": shown, "triggers": TRIGGERS, "levels": list(Level),
         "replay_from": first, "replay_to": last, **listed},
    )  # fmt: skip


@requires()
async def active_policy(request: Request) -> Response:
    """The version in force as JSON: what the diff compares the draft with, and what the
    editor is reset to."""
    current = await in_force(console_of(request))
    return JSONResponse(
        {"text": current.text, "version": current.version, "label": current.label,
         "where": current.where}
    )  # fmt: skip


@requires()
async def versions_fragment(request: Request) -> Response:
    return render(request, "_pg_versions.html", await versions_values(request))


ROUTES = [
    Route("/playground", playground_page),
    Route("/playground/active", active_policy),
    Route("/playground/versions", versions_fragment),
]
