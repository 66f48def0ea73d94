"""`fengqiao console hash-password`, and `fengqiao up` starting the console only when it
has a way to sign people in."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import bcrypt
import pytest
from structlog.testing import capture_logs

from fengqiao.cli.console import up_with_console
from fengqiao.console.users import UsersFile
from fengqiao.domain.errors import SettingsError
from fengqiao.platform.console_settings import ConsoleSettings
from fengqiao.platform.settings import Settings
from tests.conftest import ROOT


def _hash(password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fengqiao", "console", "hash-password"], cwd=ROOT,
        input=password + "\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_hash_password_prints_a_bcrypt_hash_of_what_it_read() -> None:
    done = _hash("街道综治中心-2026")
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert bcrypt.checkpw("街道综治中心-2026".encode(), hashed.encode())
    short = _hash("short")
    assert short.returncode == 1 and "至少 8 个字符" in short.stderr


def test_a_users_file_with_a_plain_password_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  - name: zhaoli\n    roles: [handler]\n    password: secret123\n")
    with pytest.raises(SettingsError, match="bcrypt"):
        UsersFile.load(path)
    with pytest.raises(SettingsError, match="不存在"):
        UsersFile.load(tmp_path / "missing.yaml")


def test_up_starts_the_console_only_with_a_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    settings = replace(Settings(), console=ConsoleSettings(users_file=users))
    with capture_logs() as logs:
        assert up_with_console(settings) == []
    assert [e["users_file"] for e in logs if e["event"] == "console_not_started"] == [str(users)]
    users.write_text("users: []\n")
    assert up_with_console(settings) == ["console"]
