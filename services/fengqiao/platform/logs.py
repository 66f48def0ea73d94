"""structlog set-up: JSON lines for operators (or console when on a terminal), with the
ids bound through `structlog.contextvars` on every line."""

from __future__ import annotations

import logging
import sys

import structlog

from fengqiao.platform.settings import LogFormat


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
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached, so tests can capture logs with structlog.testing.capture_logs.
        cache_logger_on_first_use=False,
    )
