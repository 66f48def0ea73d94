"""Files named by settings (certificates, keys, CAs) are checked where the settings are
read, so a typo in a path is an error at start that names the variable."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def missing_files(variables: Mapping[str, Path | None]) -> list[str]:
    """`FENGQIAO_X=path: no such file` for each variable whose file is not there."""
    return [
        f"{name}={path}: no such file"
        for name, path in variables.items()
        if path is not None and not path.is_file()
    ]
