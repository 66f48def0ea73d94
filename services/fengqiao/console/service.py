"""Wires the console: the services' gRPC APIs, the bus, the users, and an HTTP server
(uvicorn) in the service's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import structlog
import uvicorn

from fengqiao.console.apis import Apis
from fengqiao.console.app import build_app
from fengqiao.console.context import Console
from fengqiao.console.users import UsersFile
from fengqiao.platform.bus import Bus
from fengqiao.platform.settings import Settings

log = structlog.get_logger()


@dataclass
class ConsoleService:
    name: str
    port: int
    _running: contextlib.AsyncExitStack

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> ConsoleService:
        """Serve the console on `settings.console.addr` until `stop`."""
        users = None if settings.console.oidc else UsersFile.load(settings.console.users_file)
        async with contextlib.AsyncExitStack() as running:
            apis = await running.enter_async_context(Apis.open(settings))
            app = build_app(Console(settings, apis, bus, users))
            host, _, port = settings.console.addr.rpartition(":")
            listening = socket.create_server((host, int(port)), reuse_port=False)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    timeout_graceful_shutdown=3,
                )
            )
            serving = asyncio.create_task(server.serve(sockets=[listening]), name="console-http")
            running.push_async_callback(_stop, server, serving, listening)
            while not server.started:
                if serving.done():
                    serving.result()  # the server's own error
                    raise RuntimeError("the console's HTTP server stopped while starting")
                await asyncio.sleep(0.01)
            port_number = listening.getsockname()[1]
            log.info("console_serving", addr=f"{host}:{port_number}",
                     sign_in="oidc" if settings.console.oidc else "users_file")  # fmt: skip
            return cls("console", port_number, running.pop_all())

    async def stop(self) -> None:
        await self._running.aclose()


async def _stop(
    server: uvicorn.Server, serving: asyncio.Task[None], listening: socket.socket
) -> None:
    # Live pages hold their connection open: close them rather than wait for them.
    server.should_exit = True
    server.force_exit = True
    try:
        await asyncio.wait_for(serving, timeout=5)
    except TimeoutError:
        serving.cancel()
    listening.close()
