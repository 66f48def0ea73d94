"""The directory (`rules/directory.yaml`, 通讯录): who, at each grid, community, street and
district, receives notifications, and through which channels. Checked like the policy,
with `file:line:column` problems in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from fengqiao.domain.vocabulary import RECIPIENT_ROLES
from fengqiao.notification.recipients import SCOPE
from fengqiao.policy.check_shapes import ShapeChecks
from fengqiao.policy.problems import PolicyError, Problem
from fengqiao.policy.yaml_safe import position, read_yaml

CHANNEL_KINDS: Final = ("webhook", "email", "log")


@dataclass(frozen=True, slots=True)
class Channel:
    kind: str  # webhook, email, log
    target: str = ""  # the URL or the address

    @property
    def name(self) -> str:
        return self.kind


@dataclass(frozen=True, slots=True)
class Contact:
    recipient_id: str
    name: str
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class Directory:
    contacts: dict[str, Contact]

    def channels_for(self, recipient_id: str) -> tuple[Channel, ...]:
        """Where to send; none for anyone not listed (a `{log: true}` channel must be
        given explicitly: an unlisted recipient is not told, and delivery says so)."""
        contact = self.contacts.get(recipient_id)
        return contact.channels if contact else ()

    def places(self, depth: int) -> frozenset[str]:
        """The names at `depth` of the places listed (1 district, 2 street, 3 community,
        4 grid): the places fengqiao knows of."""
        parts = (rid.partition("@")[2].split("/") for rid in self.contacts)
        return frozenset(p[depth - 1] for p in parts if len(p) >= depth and p[depth - 1])


EMPTY: Final = Directory({})


def load_directory(path: Path) -> Directory:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            source, [Problem(1, 1, f"无法读取通讯录：{exc.strerror}", str(exc))]
        ) from exc
    checker = _DirectoryChecker()
    directory = checker.directory(read_yaml(data, source))
    if checker.problems:
        raise PolicyError(source, checker.problems)
    return directory


class _DirectoryChecker(ShapeChecks):
    def directory(self, doc: Any) -> Directory:
        if not isinstance(doc, CommentedMap) or not isinstance(doc.get("contacts"), CommentedSeq):
            self.add((1, 1), "通讯录应包含 contacts 列表", "the directory needs a `contacts` list")
            return EMPTY
        self.keys(doc, ("version", "contacts"), ("contacts",), "通讯录")
        contacts: dict[str, Contact] = {}
        for i, node in enumerate(doc["contacts"]):
            contact = self.contact(doc["contacts"], i, node)
            if contact is None:
                continue
            if contact.recipient_id in contacts:
                self.add(
                    position(node),
                    f"{contact.recipient_id} 重复登记",
                    f"{contact.recipient_id} is listed twice",
                )
            contacts[contact.recipient_id] = contact
        return Directory(contacts)

    def contact(self, parent: CommentedSeq, index: int, node: Any) -> Contact | None:
        if not isinstance(node, CommentedMap):
            self.add(
                position(parent, index),
                "每个联系人应为映射（role、where、name、channels）",
                "each contact is a mapping of role, where, name, channels",
            )
            return None
        before = len(self.problems)
        self.keys(
            node, ("role", "where", "name", "channels"), ("role", "where", "channels"), "联系人"
        )
        roles = [r for r in RECIPIENT_ROLES if r != "party"]
        role = self.code(node, "role", node.get("role"), roles, zh="角色", en="role")
        where = node.get("where")
        parts = where.split("/") if isinstance(where, str) else []
        if role and (len(parts) != SCOPE[role] or not all(parts)):
            self.add(
                position(node, "where"),
                f"{RECIPIENT_ROLES[role]}的 where 应写前 {SCOPE[role]} 级（区县/街道/社区/网格）",
                f"where of a {role} names {SCOPE[role]} levels of district/street/community/grid",
            )
        channels = self.channels(node)
        if len(self.problems) > before:
            return None
        name = str(node.get("name") or "")
        return Contact(f"{role}@{where}", name, channels)

    def channels(self, node: CommentedMap) -> tuple[Channel, ...]:
        items = node.get("channels")
        if not isinstance(items, CommentedSeq) or not items:
            self.add(
                position(node, "channels"),
                "channels 至少列出一个渠道，例如 [{webhook: https://…}]",
                "channels lists at least one, e.g. [{webhook: https://…}]",
            )
            return ()
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, CommentedMap) or len(item) != 1:
                self.add(
                    position(items, i),
                    "每个渠道写成一项：{webhook: URL}、{email: 地址} 或 {log: true}",
                    "each channel is one of {webhook: URL}, {email: address}, {log: true}",
                )
                continue
            ((kind, target),) = item.items()
            if not self.code(item, kind, kind, CHANNEL_KINDS, zh="渠道", en="channel"):
                continue
            text = str(target)
            if kind == "webhook" and not text.startswith(("http://", "https://")):
                self.add(
                    position(item, kind),
                    "webhook 应为 http(s):// 开头的地址",
                    "webhook needs an http(s) URL",
                )
                continue
            if kind == "email" and "@" not in text:
                self.add(position(item, kind), "email 应为邮箱地址", "email needs an address")
                continue
            out.append(Channel(kind, "" if kind == "log" else text))
        return tuple(out)
