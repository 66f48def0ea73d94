"""structlog set-up: JSON lines for operators (or console when on a terminal), with the
ids bound through `structlog.contextvars` on every line. Every event also updates its
Prometheus metric (`metrics.record`) before the level filter drops what is not shown."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from fengqiao.platform import metrics
from fengqiao.platform.settings import LogFormat

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _at_least(level: int) -> structlog.typing.Processor:
    def keep(_logger: Any, method: str, event: metrics.EventDict) -> metrics.EventDict:
        if _LEVELS.get(method, logging.INFO) < level:
            raise structlog.DropEvent
        return event

    return keep


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
            _at_least(_LEVELS[level.lower()]),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        # Every call reaches the processors (metrics count debug events too); the level
        # filter is a processor after `metrics.record`.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached, so tests can capture logs with structlog.testing.capture_logs.
        cache_logger_on_first_use=False,
    )
