"""政策演练: the policy playground, for policy staff. A YAML editor on the version in
force whose text is checked as it is typed; the policy's cases run on it; one dispute
explained rule by rule; the draft replayed on real history; and, for the `policy` role,
publishing it and rolling back. Everything a draft goes through is `fengqiao.publishing`
and the pure policy code, as `fengqiao rules …` runs it.

- `page.py` the page, the version in force, the versions list;
- `checks.py` check as you type, run the cases; `explain.py`; `replay.py`;
- `versions.py` publish and roll back; `common.py` what they share."""

from starlette.routing import BaseRoute

from fengqiao.console.playground import checks, explain, page, replay, versions

ROUTES: list[BaseRoute] = [
    *page.ROUTES,
    *checks.ROUTES,
    *explain.ROUTES,
    *replay.ROUTES,
    *versions.ROUTES,
]

__all__ = ["ROUTES"]
