"""Policy versions for tests: the shipped file under another label (a new version that
decides the same), and publishing straight to the bucket (past `rules publish`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fengqiao.platform.bus import Bus
from fengqiao.platform.policies import PUBLISH, Activation, PolicyStore, PublishedVersion
from fengqiao.policy import policy_version
from tests.conftest import POLICY

LABEL = 'version: "2026.12 复核版"'


def relabelled(label: str) -> str:
    """The shipped policy with another `version:` label: another version, same decisions."""
    text = POLICY.read_text(encoding="utf-8")
    assert LABEL in text
    return text.replace(LABEL, f'version: "{label}"')


async def put_in_force(bus: Bus, text: str, comment: str = "测试") -> str:
    """Store `text` as a version and activate it, as `rules publish` does but unchecked."""
    data = text.encode()
    version, now = policy_version(data), datetime.now(UTC)
    store = PolicyStore(bus.policies)
    await store.publish(PublishedVersion(version, "", data, "test", now, comment))
    await store.activate(Activation(version, PUBLISH, "test", now, comment))
    return version
