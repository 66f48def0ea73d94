"""`fengqiao console hash-password`, and whether `fengqiao up` starts the console."""

from __future__ import annotations

import getpass
import sys

import structlog

from fengqiao.console.users import hash_password as bcrypt_hash
from fengqiao.platform.settings import Settings

log = structlog.get_logger()


def hash_password() -> int:
    """Read a password (asked twice at a terminal, one line from a pipe) and print its
    bcrypt hash: the `password:` of a user in the console's users file."""
    if sys.stdin.isatty():
        password = getpass.getpass("密码（password）: ")
        if getpass.getpass("再输入一次（again）: ") != password:
            print("两次输入不一致（the two differ）", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        print(bcrypt_hash(password))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def up_with_console(settings: Settings) -> list[str]:
    """`["console"]` when `fengqiao up` can start it (single sign-on or a users file),
    else nothing, saying in the log how to add it."""
    if settings.console.oidc is not None or settings.console.users_file.is_file():
        return ["console"]
    log.warning(
        "console_not_started",
        users_file=str(settings.console.users_file),
        hint='the console needs a users file or single sign-on (README, "The console")',
    )
    return []
