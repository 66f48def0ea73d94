"""W3C trace context through the whole journey of a dispute: the `traceparent` a caller
sends with a gRPC call (or a new one) is continued by intake, carried in the headers of
every message published meanwhile, and continued by triage, notification and delivery
when they handle those messages. Every log line written meanwhile carries `trace_id`.

Only the OpenTelemetry API is used, so nothing is exported: without an SDK its tracer
makes no spans, and the context passes through as received. A process that configures
an SDK (e.g. run under `opentelemetry-instrument` with `OTEL_TRACES_EXPORTER`) gets real
spans, one per call and message, in the same traces.

Cost per call or message: one header parsed (or 24 random bytes), the context attached
and detached, and `trace_id` bound; one header formatted per message published.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fengqiao.platform.logs import bound

TRACEPARENT: Final = "traceparent"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACER: Final = trace.get_tracer("fengqiao")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)


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
    context = _PROPAGATOR.extract(carrier) if carrier and TRACEPARENT in carrier else None
    if context is None or not trace.get_current_span(context).get_span_context().is_valid:
        context = trace.set_span_in_context(NonRecordingSpan(_fresh()))
    with _TRACER.start_as_current_span(name, context=context) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        with bound(trace_id=trace_id):
            yield trace_id


def headers(base: dict[str, str]) -> dict[str, str]:
    """`base` with the current trace's `traceparent` added, for a message to publish."""
    _PROPAGATOR.inject(base)
    return base
