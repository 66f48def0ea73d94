"""A changed directory (通讯录) is used from the next notification on, without a restart;
one with problems changes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
from structlog.testing import capture_logs

from fengqiao.notification.service import NotificationApp
from fengqiao.platform.embedded_nats import EmbeddedNats
from fengqiao.stack import running
from fengqiao.v1 import intake_pb2_grpc
from tests.conftest import sample, settings_for
from tests.notification.test_delivery import GRID, directory
from tests.receivers import HttpReceiver, Request, http_receiver
from tests.support import eventually


async def posted(receiver: HttpReceiver) -> list[Request]:
    return receiver.ok()


async def submit(port: int, request_id: str) -> None:
    request = sample("01")
    request.request_id = request_id
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await intake_pb2_grpc.IntakeServiceStub(channel).SubmitDispute(request)


async def test_a_reloaded_directory_sends_the_next_notification_to_the_new_channel(
    nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(
        f"contacts:\n  - role: grid_worker\n    where: {GRID}\n    channels:\n      - log: true\n",
        encoding="utf-8",
    )
    async with http_receiver() as receiver:
        settings = replace(settings_for(nats_server.url), directory_file=path)
        async with running(settings, ("intake", "triage", "notification")) as stack:
            notification = stack.services["notification"]
            assert isinstance(notification, NotificationApp)
            with capture_logs() as logs:
                path.write_text("contacts: [", encoding="utf-8")
                await notification.reload()
                await submit(stack.port("intake"), "before")  # the old directory: the log

                async def sent() -> list[str]:
                    return [e["channel"] for e in logs if e["event"] == "notification_sent"]

                await eventually(sent, lambda channels: len(channels) >= 1)
                assert receiver.requests == []
                directory(tmp_path, f"http://127.0.0.1:{receiver.port}/hook")
                await notification.reload()
                await submit(stack.port("intake"), "after")
                (hook,) = await eventually(lambda: posted(receiver), lambda ok: len(ok) == 1)
    events = [e["event"] for e in logs if e["event"].startswith("directory_")]
    assert events == ["directory_reload_failed", "directory_reloaded"]
    assert hook.headers["x-fengqiao-notification-id"]
