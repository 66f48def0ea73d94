"""Published policy versions on the bus: the `policies` KV bucket.

- `version.<sha256>`: one published rules file (`PolicyVersion`: its bytes, who, when,
  why). Written once by `create`, never changed, so a version's text is what decided.
- `active`: the version in force (`ActivePolicy`: which, how — publish, rollback or
  bootstrap — who, when, why). Every triage replica watches this key and switches when
  it changes; its history (the bucket keeps 64 revisions) is the log of activations.

Checking a file before it is stored is the publisher's job (`fengqiao rules publish`);
triage compiles each version again before it decides with it and refuses one with
problems, so a version written past the command is never used either."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from fengqiao.domain.errors import FieldViolation, InvalidArgument, NotFound
from fengqiao.platform.bus import KV_POLICIES, kv_history, kv_values
from fengqiao.platform.codec import decode, encode
from fengqiao.platform.convert import from_timestamp, timestamp
from fengqiao.v1 import triage_pb2

ACTIVE: Final = "active"
_VERSION: Final = "version."
# A version may be named by a prefix of its SHA-256 this long or longer.
MIN_PREFIX: Final = 8

PUBLISH: Final = "publish"
ROLLBACK: Final = "rollback"
BOOTSTRAP: Final = "bootstrap"


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    version: str
    label: str
    text: bytes
    published_by: str
    published_at: datetime
    comment: str


@dataclass(frozen=True, slots=True)
class Activation:
    version: str
    action: str
    activated_by: str
    activated_at: datetime
    comment: str


def source_of(version: str) -> str:
    """How problems found in a published version name it (where a file has its path)."""
    return f"policies/{version[:12]}"


def _version_key(version: str) -> str:
    return f"{_VERSION}{version}"


def _published(data: bytes) -> PublishedVersion:
    m = decode(data, triage_pb2.PolicyVersion())
    return PublishedVersion(
        version=m.version,
        label=m.label,
        text=m.text,
        published_by=m.published_by,
        published_at=from_timestamp(m, "published_at") or datetime.fromtimestamp(0, UTC),
        comment=m.comment,
    )


def _activation(data: bytes) -> Activation:
    m = decode(data, triage_pb2.ActivePolicy())
    return Activation(
        version=m.version,
        action=m.action,
        activated_by=m.activated_by,
        activated_at=from_timestamp(m, "activated_at") or datetime.fromtimestamp(0, UTC),
        comment=m.comment,
    )


class PolicyStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def publish(self, version: PublishedVersion) -> bool:
        """Store `version`; False if it was published before (its record stays as it was)."""
        message = triage_pb2.PolicyVersion(
            version=version.version,
            label=version.label,
            text=version.text,
            published_by=version.published_by,
            published_at=timestamp(version.published_at),
            comment=version.comment,
        )
        try:
            await self._kv.create(_version_key(version.version), encode(message))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def activate(self, activation: Activation, *, only_if_none: bool = False) -> bool:
        """Put `activation.version` in force. With `only_if_none` (a bootstrap), only if no
        version is active yet: False when another got there first. The version must have
        been published."""
        if await self.get(activation.version) is None:
            raise NotFound(f"没有已发布的版本 {activation.version}（no such published version）")
        data = encode(
            triage_pb2.ActivePolicy(
                version=activation.version,
                action=activation.action,
                activated_by=activation.activated_by,
                activated_at=timestamp(activation.activated_at),
                comment=activation.comment,
            )
        )
        if not only_if_none:
            await self._kv.put(ACTIVE, data)
            return True
        try:
            await self._kv.create(ACTIVE, data)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def get(self, version: str) -> PublishedVersion | None:
        try:
            entry = await self._kv.get(_version_key(version))
        except KeyNotFoundError:
            return None
        return _published(entry.value) if entry.value else None

    async def text(self, version: str) -> bytes | None:
        """The rules file published as `version`, or None."""
        published = await self.get(version)
        return published.text if published is not None else None

    async def active(self) -> Activation | None:
        try:
            entry = await self._kv.get(ACTIVE)
        except KeyNotFoundError:
            return None
        return _activation(entry.value) if entry.value else None

    async def versions(self, js: JetStreamContext) -> list[PublishedVersion]:
        """Every published version, oldest first."""
        found = [_published(v) for v in await kv_values(js, KV_POLICIES, f"{_VERSION}>")]
        return sorted(found, key=lambda v: v.published_at)

    async def activations(self, js: JetStreamContext) -> list[Activation]:
        """Every activation the bucket still keeps, oldest first."""
        return [_activation(v) for v in await kv_history(js, KV_POLICIES, ACTIVE) if v]

    async def resolve(self, js: JetStreamContext, named: str) -> PublishedVersion:
        """The published version `named` by its SHA-256 or a unique prefix of it."""
        named = named.strip().lower()
        if len(named) == 64 and (exact := await self.get(named)) is not None:
            return exact
        if len(named) < MIN_PREFIX:
            raise InvalidArgument(
                [FieldViolation("version", f"版本号至少写 {MIN_PREFIX} 位"
                                           f"（give at least {MIN_PREFIX} characters）")]
            )  # fmt: skip
        matches = [v for v in await self.versions(js) if v.version.startswith(named)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"没有已发布的版本 {named}（no published version {named}）")
        raise InvalidArgument(
            [FieldViolation("version", f"{named} 对应多个版本，请多写几位"
                                       f"（{named} names {len(matches)} versions）")]
        )  # fmt: skip

    async def watch(self) -> AsyncIterator[Activation]:
        """The activation in force now (if any), then each one after it, as they happen."""
        watcher = await self._kv.watch(ACTIVE)
        try:
            async for entry in watcher:
                if entry is not None and entry.value:
                    yield _activation(entry.value)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it untyped
