"""`fengqiao console hash-password`: a bcrypt hash for the console's users file."""

from __future__ import annotations

import getpass
import sys

from fengqiao.console.users import hash_password as bcrypt_hash


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
