"""structlog set-up: JSON lines for operators (or console when on a terminal), with the
ids bound through `structlog.contextvars` on every line and personal data masked
(`redact.py`). Every event also updates its Prometheus metric (`metrics.record`), also
when the level filter does not show it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from fengqiao.platform import metrics, redact
from fengqiao.platform.settings import LogFormat

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind `ids` to every log line within, and restore what they were bound to before,
    as `structlog.contextvars.bound_contextvars` does. That one copies the whole context
    to see what it replaces (4 % of notification's CPU, where every message binds its
    dispute); resetting the variables' tokens restores the same at a fraction of it."""
    tokens = structlog.contextvars.bind_contextvars(**ids)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def _logger_class(level: int) -> type[structlog.typing.FilteringBoundLogger]:
    """structlog's filtering logger, but a call below `level` still counts its metric.
    It does nothing else (nothing rendered, nothing raised), so an event without a metric
    that is filtered out costs a set look-up."""
    base = structlog.make_filtering_bound_logger(level)

    def counted(_self: Any, event: str, *_args: Any, **kw: Any) -> None:
        if event in metrics.EVENTS:  # labels may be bound ids, like the rpc's name
            bound = structlog.contextvars.get_contextvars()
            metrics.record(None, "", {**bound, **kw, "event": event})

    quiet = {name: counted for name, at in _LEVELS.items() if at < level}
    return type(f"{base.__name__}Counted", (base,), quiet)


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    """Configure structlog once per process; logs go to stderr."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            metrics.record,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact.redact,
            renderer,
        ],
        wrapper_class=_logger_class(_LEVELS[level.lower()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached, so tests can capture logs with structlog.testing.capture_logs.
        cache_logger_on_first_use=False,
    )
