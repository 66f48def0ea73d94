"""A stack: any set of the three services started together in one process, with the
embedded nats-server when no `FENGQIAO_NATS_URL` is given, and stopped in reverse order.
`fengqiao up` (or one service's own command) and the demo run one, and so do the tests.
Each service in it is a `platform.running.Running`, the shape every started service has."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from fengqiao.intake.service import IntakeApp
from fengqiao.notification.service import NotificationApp
from fengqiao.platform.bus import Bus, connect
from fengqiao.platform.embedded_nats import EmbeddedNats, withdraw
from fengqiao.platform.metrics import MetricsServer
from fengqiao.platform.running import Reloadable, Running
from fengqiao.platform.settings import Settings
from fengqiao.triage.service import TriageApp

log = structlog.get_logger()

# A graceful stop longer than this is stuck: below Kubernetes' default grace (30 s).
STOP_SECONDS = 20.0

Starter = Callable[[Bus, Settings], Awaitable[Running]]


async def _start_console(bus: Bus, settings: Settings) -> Running:
    # Imported here: the web stack (Starlette, Jinja2, Authlib) would cost every other
    # service ~20 MB and its start-up time.
    from fengqiao.console.service import ConsoleApp  # noqa: PLC0415

    return await ConsoleApp.start(bus, settings)


SERVICES: dict[str, Starter] = {
    "intake": IntakeApp.start,
    "triage": TriageApp.start,
    "notification": NotificationApp.start,
    "console": _start_console,
}


@dataclass(frozen=True, slots=True)
class Stack:
    settings: Settings
    services: dict[str, Running]
    metrics_port: int = 0  # 0: no metrics endpoint

    def port(self, name: str) -> int:
        return self.services[name].port


@asynccontextmanager
async def running(settings: Settings, names: Sequence[str]) -> AsyncIterator[Stack]:
    """The named services, started in order and serving until the block exits."""
    nats: EmbeddedNats | None = None
    buses: list[Bus] = []
    services: dict[str, Running] = {}
    scrape: MetricsServer | None = None
    try:
        if settings.metrics_addr:
            scrape = MetricsServer(settings.metrics_addr)
            log.info("metrics_serving", port=scrape.port)
        if not settings.nats_url:
            nats = await EmbeddedNats.start(settings.data_dir)
            nats.announce(settings.data_dir)
            settings = settings.with_nats(nats.url)
        for name in names:
            bus = await connect(settings.nats_url, name, settings.nats)
            buses.append(bus)
            services[name] = await SERVICES[name](bus, settings)
            log.info("service_started", service=name, port=services[name].port)
            # Services started later (the console) reach this one where it is bound.
            settings = settings.bound(name, services[name].port)
        yield Stack(settings, services, scrape.port if scrape else 0)
    finally:
        for name, service in reversed(services.items()):
            try:
                await service.stop()
            except Exception:  # keep stopping the others
                log.exception("service_stop_failed", service=name)
            else:
                log.info("service_stopped", service=name)
        for bus in buses:
            await bus.close()
        if nats is not None:
            withdraw(settings.data_dir)
            await nats.stop()
        if scrape is not None:
            scrape.stop()


def stop_within(seconds: float, exit: Callable[[int], object] = os._exit) -> asyncio.TimerHandle:
    """Bound a graceful stop: if the process is still stopping after `seconds`, log what
    it is waiting for (`stop_overran`, each task and where it waits) and exit 1, as an
    orchestrator's SIGKILL would, but saying why. Nothing accepted is lost by it: what
    was in hand is redelivered. Cancel the handle once stopped."""

    def overran() -> None:
        waiting = []
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=1)
            where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"
            waiting.append(f"{task.get_name()} at {where}")
        log.error("stop_overran", seconds=seconds, waiting=sorted(waiting))
        exit(1)

    return asyncio.get_running_loop().call_later(seconds, overran)


async def serve_until_signalled(settings: Settings, names: Sequence[str]) -> None:
    """Run until SIGINT or SIGTERM, then stop gracefully; on SIGHUP every service that can
    takes its files again. A stop signal while the services are still starting (waiting
    for NATS, say) abandons the start."""
    stop = asyncio.Event()
    starting = asyncio.current_task()
    started: list[Stack] = []
    reloads: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    def on_stop() -> None:
        if stop.is_set() or starting is None:
            return
        stop.set()
        if not started:
            starting.cancel()

    def on_reload() -> None:
        if not started:
            log.info("reload_ignored", reason="still starting; files are read as it starts")
            return
        log.info("reload_requested")
        for service in started[0].services.values():
            if isinstance(service, Reloadable):
                task = loop.create_task(service.reload())
                reloads.add(task)
                task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    watchdog: asyncio.TimerHandle | None = None
    try:
        async with running(settings, names) as stack:
            started.append(stack)
            await stop.wait()
            log.info("shutdown_requested")
            watchdog = stop_within(STOP_SECONDS)
    except asyncio.CancelledError:
        if started or not stop.is_set():
            raise
        log.info("start_abandoned")
    finally:
        if watchdog is not None:
            watchdog.cancel()
