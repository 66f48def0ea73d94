"""W3C trace context: continued from a traceparent, or begun; bound to log lines; passed
on in headers."""

from __future__ import annotations

import json
import subprocess
import sys

import structlog
from structlog.testing import capture_logs

from fengqiao.platform import tracing

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}


def test_a_traceparent_is_continued_and_passed_on() -> None:
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        tracing.continued(PARENT, "test") as trace_id,
    ):
        structlog.get_logger().info("inside")
        passed = tracing.headers({"Nats-Msg-Id": "x"})
    assert trace_id == TRACE_ID
    assert logs[0]["trace_id"] == TRACE_ID
    assert passed["Nats-Msg-Id"] == "x"
    assert passed["traceparent"].split("-")[1] == TRACE_ID


def test_without_one_or_with_a_malformed_one_a_new_trace_begins() -> None:
    seen = set()
    for carrier in (None, {}, {"traceparent": "00-nonsense-01"}, {"other": "x"}):
        with tracing.continued(carrier, "test") as trace_id:
            assert tracing.headers({})["traceparent"].split("-")[1] == trace_id
        seen.add(trace_id)
    assert len(seen) == 4 and all(len(t) == 32 and int(t, 16) for t in seen)


def test_outside_a_trace_nothing_is_passed_on_or_bound() -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        structlog.get_logger().info("outside")
    assert tracing.headers({}) == {}
    assert "trace_id" not in logs[0]


def test_a_tracestate_travels_with_its_traceparent() -> None:
    carrier = {**PARENT, "tracestate": "city=gz"}
    with tracing.continued(carrier, "test"):
        assert tracing.headers({}) == carrier


# Run in a process of its own: an SDK's tracer provider is set once per process.
_WITH_SDK = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from fengqiao.platform import tracing

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
with tracing.continued({"traceparent": "%s"}, "notify.handle") as trace_id:
    passed = tracing.headers({})["traceparent"]
(span,) = exporter.get_finished_spans()
print(json.dumps({"trace_id": trace_id, "passed": passed, "name": span.name,
                  "span_id": format(span.context.span_id, "016x"),
                  "parent": format(span.parent.span_id, "016x")}))
"""


def test_with_an_sdk_each_call_is_a_span_in_the_same_trace() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITH_SDK % PARENT["traceparent"]], capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    seen = json.loads(done.stdout)
    assert seen["trace_id"] == TRACE_ID and seen["name"] == "notify.handle"
    assert seen["parent"] == "b7ad6b7169203331"  # the caller's span
    # What is passed on names this span as the parent of the next.
    assert seen["passed"] == f"00-{TRACE_ID}-{seen['span_id']}-01"
