"""Wires the console: the services' gRPC APIs, the bus, the users, and an HTTP server
(uvicorn) in the service's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
import uvicorn
from starlette.types import ASGIApp

from fengqiao.console.apis import Apis
from fengqiao.console.app import build_app
from fengqiao.console.context import Console
from fengqiao.console.history import History
from fengqiao.console.users import UsersFile
from fengqiao.platform.bus import Bus
from fengqiao.platform.settings import Settings

log = structlog.get_logger()


@dataclass
class ConsoleApp:
    name: str
    port: int
    _running: contextlib.AsyncExitStack

    @classmethod
    async def start(cls, bus: Bus, settings: Settings) -> ConsoleApp:
        """Serve the console on `settings.console.addr` until `stop`."""
        users = None if settings.console.oidc else UsersFile.load(settings.console.users_file)
        async with contextlib.AsyncExitStack() as running:
            apis = await running.enter_async_context(Apis.open(settings))
            history = History(settings)
            running.callback(history.close)
            app = build_app(Console(settings, apis, bus, users, history))
            port = await running.enter_async_context(http_server(app, settings.console.addr))
            host = settings.console.addr.rpartition(":")[0]
            log.info("console_serving", addr=f"{host}:{port}",
                     sign_in="oidc" if settings.console.oidc else "users_file")  # fmt: skip
            return cls("console", port, running.pop_all())

    async def stop(self) -> None:
        await self._running.aclose()


@contextlib.asynccontextmanager
async def http_server(app: ASGIApp, addr: str) -> AsyncIterator[int]:
    """`app` served by uvicorn on `addr` (host:port, port 0 for any) in this event loop;
    the port it listens on. On exit, open connections (live pages) are closed, not
    waited for."""
    host, _, port = addr.rpartition(":")
    listening = socket.create_server((host, int(port)))
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                       timeout_graceful_shutdown=3)
    )  # fmt: skip
    serving = asyncio.create_task(server.serve(sockets=[listening]), name="http-server")
    try:
        # uvicorn says it has started with a flag only.
        while not server.started:
            if serving.done():
                serving.result()  # raises the server's own error
                raise RuntimeError(f"the HTTP server on {addr} stopped while starting")
            await asyncio.sleep(0.01)
        yield int(listening.getsockname()[1])
    finally:
        server.should_exit = server.force_exit = True
        try:
            await asyncio.wait_for(serving, timeout=5)
        except TimeoutError:
            log.warning("http_server_stop_overran", addr=addr)
        listening.close()
