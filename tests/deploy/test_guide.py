"""The operators' guide (deploy/README.md) names only what exists: its jq recipes select
events the services log, its alerts use metrics the services serve, and the streams it
says to back up are every stream fengqiao declares."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY

from fengqiao.platform import metrics
from fengqiao.platform.bus import declared_names
from tests.conftest import ROOT
from tests.deploy.manifests import DEPLOY

GUIDE = (DEPLOY / "README.md").read_text()


def logged_events() -> set[str]:
    found = set()
    for path in (ROOT / "services" / "fengqiao").rglob("*.py"):
        found |= set(re.findall(r'log\.\w+\(\s*"([a-z_]+)"', path.read_text()))
    return found


def test_every_event_the_guide_names_is_logged() -> None:
    named = set(re.findall(r'\.event == "([a-z_]+)"', GUIDE))
    for pattern in re.findall(r'test\("\^([a-z_]+)_\(([a-z_|]+)\)\$"\)', GUIDE):
        named |= {f"{pattern[0]}_{suffix}" for suffix in pattern[1].split("|")}
    named |= set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", GUIDE)) & logged_events()
    assert len(named) > 20
    assert named <= logged_events(), named - logged_events()


def test_every_metric_the_guide_alerts_on_is_served() -> None:
    assert metrics.EVENTS  # importing the module registered its metrics
    # prometheus_client names a counter's family without `_total`, a histogram's without
    # `_bucket`; the guide writes the names PromQL sees.
    served = {f.name for f in REGISTRY.collect() if f.name.startswith("fengqiao_")}
    named = {re.sub(r"_(total|bucket)$", "", m) for m in re.findall(r"\bfengqiao_[a-z_]+", GUIDE)}
    assert len(named) >= 10
    assert named <= served, named - served


def test_the_guide_backs_up_every_stream() -> None:
    section = GUIDE[GUIDE.index("## Backup and restore") :]
    streams = {n for n in declared_names() if not n.startswith("KV_")}
    buckets = {n.removeprefix("KV_") for n in declared_names() if n.startswith("KV_")}
    assert streams and buckets
    for name in streams | buckets:
        assert f"`{name}`" in section, name
    assert "the ten\n  streams" in section and len(declared_names()) == 10
