"""The committed stubs in services/fengqiao/v1 are what the protos generate today."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    protos = sorted((ROOT / "protos" / "fengqiao" / "v1").glob("*.proto"))
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
            f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
            f"--plugin=protoc-gen-mypy={shutil.which('protoc-gen-mypy', path=bin_dir)}",
            f"--mypy_out={tmp_path}",
            f"--plugin=protoc-gen-mypy_grpc={shutil.which('protoc-gen-mypy_grpc', path=bin_dir)}",
            f"--mypy_grpc_out={tmp_path}",
            *map(str, protos),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    fresh = {p.name: p.read_text() for p in (tmp_path / "fengqiao" / "v1").iterdir()}
    committed_dir = ROOT / "services" / "fengqiao" / "v1"
    committed = {p.name: p.read_text() for p in committed_dir.iterdir() if p.name in fresh}
    assert len(fresh) == 4 * len(protos)
    stale = sorted(name for name in fresh if committed.get(name) != fresh[name])
    assert not stale, f"stale generated stubs {stale}: run `make protos` and commit"
