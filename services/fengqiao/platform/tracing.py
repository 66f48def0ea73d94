"""W3C trace context through the whole journey of a dispute: the `traceparent` a caller
sends with a gRPC call (or a new one) is continued by intake, carried in the headers of
every message published meanwhile, and continued by triage, notification and delivery
when they handle those messages. Every log line written meanwhile carries `trace_id`.

Nothing is exported by fengqiao itself. Without an OpenTelemetry SDK the context passes
through as received: the header is checked, kept in a context variable and written into
every message published meanwhile (a trace that brought none gets a new id). A process
that configures an SDK (e.g. run under `opentelemetry-instrument` with
`OTEL_TRACES_EXPORTER`) gets real spans, one per call and message, in the same traces,
through the OpenTelemetry API.

Cost per call or message without an SDK: one header matched (or 24 random bytes), one
context variable set and reset, and `trace_id` bound; one header copied per message
published. (Through the API's no-op tracer it was 5 % of a service's CPU under load.)
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fengqiao.platform.logs import bound

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACER: Final = trace.get_tracer("fengqiao")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
# version 00: trace id, parent id, flags; all-zero ids are invalid (W3C Trace Context).
_HEADER: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE: Final = "0" * 32
_ZERO_PARENT: Final = "0" * 16
# The trace context headers to pass on, while a call or message is handled without an SDK.
_PASSED_ON: ContextVar[dict[str, str] | None] = ContextVar("fengqiao_trace", default=None)


class _SdkSeen:
    """Whether an OpenTelemetry SDK provides the tracer (the API's default is a proxy
    until one is set). The API answers by reading the environment each time (5 % of
    notification's CPU); an SDK is set once, as a process starts, so a "no" is asked
    again at most once a second and a "yes" is kept."""

    def __init__(self) -> None:
        self._seen = False
        self._asked = -1.0

    def __call__(self) -> bool:
        if self._seen:
            return True
        now = time.monotonic()
        if now - self._asked >= 1.0:
            self._asked = now
            provider = trace.get_tracer_provider()
            self._seen = not isinstance(provider, trace.ProxyTracerProvider)
        return self._seen


_sdk_configured: Final = _SdkSeen()


def _fresh() -> SpanContext:
    """A new trace, for a call or message that brought none."""
    return SpanContext(
        trace_id=random.getrandbits(128) or 1,  # ids, not secrets: random is enough
        span_id=random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=_SAMPLED,
    )


@contextmanager
def continued(carrier: Mapping[str, str] | None, name: str) -> Iterator[str]:
    """Continue the trace whose `traceparent` is in `carrier` (gRPC metadata or NATS
    headers), or begin one; within, log lines carry `trace_id` and `headers()` passes
    the trace on. Yields the trace id (32 hex digits)."""
    if _sdk_configured():
        with _spanned(carrier, name) as trace_id:
            yield trace_id
        return
    received = carrier.get(TRACEPARENT) if carrier else None
    found = _HEADER.fullmatch(received.strip().lower()) if received else None
    if found and found[1] != _ZERO_TRACE and found[2] != _ZERO_PARENT:
        trace_id = found[1]
        passed = {TRACEPARENT: found[0]}
        if carrier and (state := carrier.get(TRACESTATE)):
            passed[TRACESTATE] = state
    else:
        fresh = _fresh()
        trace_id = format(fresh.trace_id, "032x")
        passed = {TRACEPARENT: f"00-{trace_id}-{fresh.span_id:016x}-01"}
    token = _PASSED_ON.set(passed)
    try:
        with bound(trace_id=trace_id):
            yield trace_id
    finally:
        _PASSED_ON.reset(token)


@contextmanager
def _spanned(carrier: Mapping[str, str] | None, name: str) -> Iterator[str]:
    """`continued` through the OpenTelemetry API, for a process with an SDK: a span."""
    context = _PROPAGATOR.extract(carrier) if carrier and TRACEPARENT in carrier else None
    if context is None or not trace.get_current_span(context).get_span_context().is_valid:
        context = trace.set_span_in_context(NonRecordingSpan(_fresh()))
    with _TRACER.start_as_current_span(name, context=context) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        with bound(trace_id=trace_id):
            yield trace_id


def headers(base: dict[str, str]) -> dict[str, str]:
    """`base` with the current trace's `traceparent` added, for a message to publish."""
    passed = _PASSED_ON.get()
    if passed is not None:
        base.update(passed)
    elif _sdk_configured():
        _PROPAGATOR.inject(base)
    return base
