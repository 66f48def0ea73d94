"""Dependencies point one way (ARCHITECTURE.md): the services above the platform, the
platform above the pure core. A module never imports from a layer above its own: the
platform does not reach up into the services or the command, and the pure core imports
nothing of the platform. Beside each other, the services share nothing but the bus: no
service, nor the read model or the retention job, imports another service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "services" / "fengqiao"
# Each layer and the parts of `fengqiao` it may import besides itself.
MAY_IMPORT = {
    "domain": set(),
    "policy": {"domain"},
    "platform": {"domain", "policy", "v1"},
}
SERVICES = ("intake", "triage", "notification")


def files_of(part: str) -> list[Path]:
    path = PACKAGE / part
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def imported(path: Path) -> set[str]:
    """The `fengqiao` subpackages or modules `path` imports, anywhere in it (inside a
    function too): `fengqiao.platform.bus` gives `platform`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("fengqiao.")}
    return found


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    files = files_of(layer)
    assert files
    reaching_up = {
        (str(f.relative_to(PACKAGE)), part)
        for f in files
        for part in imported(f) - MAY_IMPORT[layer] - {layer}
    }
    assert not reaching_up


@pytest.mark.parametrize("part", [*SERVICES, "readmodel", "retention.py"])
def test_no_service_imports_another(part: str) -> None:
    others = set(SERVICES) - {part}
    files = files_of(part)
    assert files
    crossing = {(str(f.relative_to(PACKAGE)), s) for f in files for s in imported(f) & others}
    assert not crossing
