"""A notification service whose start fails half way stops what it had started: with a
directory file that has problems, its gRPC server (already listening) is closed again."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from fengqiao.notification.service import NotificationApp
from fengqiao.platform.bus import Bus
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.policy import PolicyError
from tests.conftest import ROOT, settings_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_start_failing_half_way_leaves_no_grpc_server_bound(
    nats_server: EmbeddedNats, bus: Bus, tmp_path: Path
) -> None:
    port = free_port()
    broken = tmp_path / "directory.yaml"
    broken.write_text("grids: [\n", encoding="utf-8")
    settings = replace(
        settings_for(nats_server.url), notification_addr=f"127.0.0.1:{port}", directory_file=broken
    )
    with pytest.raises(PolicyError):
        await NotificationApp.start(bus, settings)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)

    # The same settings with a sound directory start on that port.
    good = replace(settings, directory_file=ROOT / "rules" / "directory.yaml")
    service = await NotificationApp.start(bus, good)
    try:
        assert service.port == port
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
    finally:
        await service.stop()
