"""The guide's cold copy (deploy/README.md, "Backup and restore"): a stopped server's
JetStream store, copied and started elsewhere, holds every stream and bucket fengqiao
declares, with their contents."""

from __future__ import annotations

import shutil
from pathlib import Path

from fengqiao.platform.bus import (
    STATUS,
    connect,
    dead_letter_subject,
    declared_names,
    recipient_subject,
)
from fengqiao.platform.embedded_nats import EmbeddedNats


async def test_a_copy_of_a_stopped_store_restores_every_stream_and_bucket(
    tmp_path: Path,
) -> None:
    server = await EmbeddedNats.start(tmp_path / "live")
    try:
        bus = await connect(server.url, "cli")
        buckets = (bus.disputes, bus.requests, bus.notifications, bus.repeats, bus.deliveries)
        for kv in (*buckets, bus.policies):
            await kv.put("k", b"kept")
        for subject in (
            "disputes.submitted.FQ-20261129-backup",
            recipient_subject("grid-worker-1"),
            dead_letter_subject("n-1"),
            STATUS,
        ):
            await bus.js.publish(subject, subject.encode())
        await bus.close()
    finally:
        await server.stop()
    shutil.copytree(tmp_path / "live" / "jetstream", tmp_path / "restored" / "jetstream")
    restored = await EmbeddedNats.start(tmp_path / "restored")
    try:
        bus = await connect(restored.url, "cli")
        try:
            counts = {n: (await bus.js.stream_info(n)).state.messages for n in declared_names()}
            value = (await bus.requests.get("k")).value
        finally:
            await bus.close()
    finally:
        await restored.stop()
    assert counts == dict.fromkeys(declared_names(), 1)
    assert value == b"kept"
