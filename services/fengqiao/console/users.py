"""Who may sign in to the console, and what each role allows.

Roles: `viewer` reads the board and the playground; `handler` also acknowledges
assignments (签收); `policy` also publishes and rolls back policy versions. Every role
implies `viewer`. The embedded default keeps users in a YAML file with bcrypt hashes:

    users:
      - name: zhaoli                    # sign-in name: letters, digits, . _ -
        display: 赵丽（街道综治中心）
        roles: [handler]
        password: "$2b$12$…"            # fengqiao console hash-password
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import bcrypt

from fengqiao.domain.errors import SettingsError
from fengqiao.policy.problems import PolicyError
from fengqiao.policy.yaml_safe import read_yaml

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# Checked against when the name is unknown, so a wrong name costs what a wrong password does.
_NOBODY = bcrypt.hashpw(b"-", bcrypt.gensalt(12))


class Role(StrEnum):
    VIEWER = "viewer"
    HANDLER = "handler"
    POLICY = "policy"


ROLE_LABELS = {Role.VIEWER: "查看", Role.HANDLER: "办理（签收）", Role.POLICY: "政策发布"}


@dataclass(frozen=True, slots=True)
class User:
    name: str
    display: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return role is Role.VIEWER or role in self.roles

    def as_session(self) -> dict[str, Any]:
        return {"name": self.name, "display": self.display, "roles": sorted(self.roles)}

    @classmethod
    def from_session(cls, data: Any) -> User | None:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        roles = frozenset(Role(r) for r in data.get("roles", ()) if r in Role._value2member_map_)
        return cls(data["name"], str(data.get("display") or data["name"]), roles)


def roles_of(values: Any) -> frozenset[Role]:
    """Roles named in a users file or an OIDC claim (a list or a space-separated string);
    unknown names are left out."""
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, list | tuple):
        return frozenset()
    return frozenset(Role(v) for v in values if v in Role._value2member_map_)


def hash_password(password: str, rounds: int = 12) -> str:
    if len(password) < 8:
        raise ValueError("密码至少 8 个字符（a password needs at least 8 characters）")
    if len(password.encode()) > 72:
        raise ValueError("密码最长 72 字节（bcrypt takes at most 72 bytes）")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    display: str
    roles: tuple[Role, ...]
    password: str


def write_users_file(
    path: Path, users: Iterable[NewUser], *, heading: str = "", rounds: int = 12
) -> Path:
    """A users file `UsersFile.load` reads, each password stored as its bcrypt hash
    (`rounds` below 12 only for files made and thrown away by the demo and the tests)."""
    lines = [f"# {heading}"] if heading else []
    lines.append("users:")
    for u in users:
        roles = ", ".join(r.value for r in u.roles)
        lines += [f"  - name: {u.name}", f"    display: {u.display}", f"    roles: [{roles}]",
                  f'    password: "{hash_password(u.password, rounds)}"']  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class UsersFile:
    users: dict[str, tuple[User, bytes]]

    @classmethod
    def load(cls, path: Path) -> UsersFile:
        """The file's users; `SettingsError` naming the entry that cannot be used."""
        try:
            data = read_yaml(path.read_bytes(), str(path))
        except PolicyError as exc:
            raise SettingsError(str(exc)) from None
        except FileNotFoundError:
            raise SettingsError(
                f"{path}: 控制台用户文件不存在（no console users file: create it, see "
                "`fengqiao console hash-password`, or set FENGQIAO_CONSOLE_OIDC_METADATA_URL）"
            ) from None
        entries = data.get("users") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise SettingsError(f"{path}: 需要 `users:` 列表（expected a `users:` list）")
        users: dict[str, tuple[User, bytes]] = {}
        for n, entry in enumerate(entries, 1):
            where = f"{path}: users[{n}]"
            if not isinstance(entry, dict):
                raise SettingsError(f"{where}: 应为映射（expected a mapping）")
            name, hashed = str(entry.get("name", "")), str(entry.get("password", ""))
            if not NAME.fullmatch(name):
                raise SettingsError(f"{where}: name {name!r} 应为字母、数字或 ._@-")
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise SettingsError(
                    f"{where} ({name}): password 应为 bcrypt 哈希（a bcrypt hash: "
                    "`fengqiao console hash-password`），不可存明文"
                )
            if name in users:
                raise SettingsError(f"{where}: 用户 {name} 重复（listed twice）")
            roles = roles_of(entry.get("roles", []))
            user = User(name, str(entry.get("display") or name), roles)
            users[name] = (user, hashed.encode())
        return cls(users)

    def check(self, name: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise, in about the same time."""
        user, hashed = self.users.get(name, (None, _NOBODY))
        good = bcrypt.checkpw(password.encode()[:72], hashed)
        return user if good and user is not None else None
