"""Putting a version in force on every triage replica: publishing a reviewed draft, and
rolling back to a version published before. Both write the `policies` bucket
(`platform/policies.py`); the caller says who and why, and words the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nats.js import JetStreamContext

from fengqiao.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from fengqiao.platform.policies import (
    PUBLISH,
    ROLLBACK,
    Activation,
    PolicyStore,
    PublishedVersion,
)
from fengqiao.publishing.review import Review


@dataclass(frozen=True, slots=True)
class Published:
    version: str
    label: str
    # False: this text was published before; its record stays, and it is activated again.
    new: bool


@dataclass(frozen=True, slots=True)
class RolledBack:
    version: PublishedVersion
    # True: it was the version in force already; nothing was written.
    already_active: bool


async def publish(
    store: PolicyStore, reviewed: Review, *, comment: str, by: str, now: datetime
) -> Published:
    """Store a draft that passed its review as a version and activate it. A draft that did
    not pass is `FailedPrecondition`; a blank comment is `InvalidArgument`."""
    if not comment.strip():
        raise InvalidArgument(
            [FieldViolation("comment", "请说明这次修改的理由（say why: the comment is empty）")]
        )
    policy = reviewed.policy
    if not reviewed.passed or policy is None:
        raise FailedPrecondition(
            f"{reviewed.draft.source}: 未通过检查或用例，未发布（not published: check or tests "
            "failed）",
            "REVIEW",
            reviewed.draft.source,
        )
    why = comment.strip()
    new = await store.publish(
        PublishedVersion(policy.version, policy.label, reviewed.draft.data, by, now, why)
    )
    await store.activate(Activation(policy.version, PUBLISH, by, now, why))
    return Published(policy.version, policy.label, new)


async def rollback(
    store: PolicyStore, js: JetStreamContext, named: str, *, comment: str, by: str, now: datetime
) -> RolledBack:
    """Put the published version `named` (its SHA-256 or a unique prefix) back in force.
    `NotFound` / `InvalidArgument` from `PolicyStore.resolve` if it names none or several."""
    version = await store.resolve(js, named)
    active = await store.active()
    if active is not None and active.version == version.version:
        return RolledBack(version, already_active=True)
    why = comment.strip() or f"回滚至 {version.version[:12]}（{version.label}）"
    await store.activate(Activation(version.version, ROLLBACK, by, now, why))
    return RolledBack(version, already_active=False)
