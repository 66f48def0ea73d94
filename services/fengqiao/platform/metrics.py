"""Prometheus metrics, derived from the structured log events: every number an operator
graphs has log lines behind it with the same names and labels.

`record` is a structlog processor, and below the log level the logger calls it directly
(`platform/logs.py`), so the metrics count whatever the log level. `serve_metrics` exposes
them (with the process' CPU and memory) on `FENGQIAO_METRICS_ADDR` for Prometheus to scrape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

from fengqiao.domain.vocabulary import SUBMITTED

EventDict = MutableMapping[str, Any]

RECEIVED: Final = Counter(
    "fengqiao_disputes_received", "Disputes accepted by intake.", ["channel", "category"]
)
REPUBLISHED: Final = Counter(
    "fengqiao_disputes_republished",
    "Disputes stored without their submitted fact, announced again by intake's sweeper.",
)
DECISIONS: Final = Counter(
    "fengqiao_decisions",
    "Policy decisions acted on: first routings (trigger=submitted) and escalations.",
    ["trigger", "route", "rule_id"],
)
DELIVERIES: Final = Counter(
    "fengqiao_deliveries", "Delivery attempts of notifications.", ["channel", "outcome"]
)
DELIVERY_SECONDS: Final = Histogram(
    "fengqiao_delivery_seconds", "Time to send one notification through one channel.", ["channel"]
)
UNROUTABLE: Final = Counter(
    "fengqiao_notifications_unroutable",
    "Notifications not sent: the recipient has no channel in the directory.",
    ["role"],
)
DEAD_LETTERS: Final = Counter(
    "fengqiao_notifications_dead_lettered", "Notifications whose delivery attempts ran out."
)
RPCS: Final = Counter("fengqiao_rpcs", "gRPC calls answered.", ["rpc", "outcome"])
RPC_SECONDS: Final = Histogram("fengqiao_rpc_seconds", "Time to answer a gRPC call.", ["rpc"])
MESSAGES_NOT_HANDLED: Final = Counter(
    "fengqiao_messages_not_handled",
    "Bus messages that failed (retried later) or were rejected (never retried).",
    ["subject", "outcome"],
)
NATS_ERRORS: Final = Counter("fengqiao_nats_errors", "Errors reported by the NATS connection.")
POLICY: Final = Gauge(
    "fengqiao_policy", "1 for the policy version in force.", ["policy_version", "label"]
)
CALENDAR: Final = Gauge(
    "fengqiao_calendar_known_until_year",
    "The last year of official holidays the working-day calendar knows.",
)
ESTIMATED: Final = Counter(
    "fengqiao_deadlines_estimated",
    "Working-day deadlines counted Monday to Friday for lack of the official calendar.",
)


def _subject_family(subject: str) -> str:
    """`disputes.submitted.FQ-…` → `disputes.submitted`: a label with few values."""
    return ".".join(subject.split(".")[:2])


def _policy(e: Mapping[str, Any]) -> None:
    POLICY.clear()
    POLICY.labels(e["policy_version"], e["label"]).set(1)
    CALENDAR.set(e["calendar_known_until"])


def _delivery(outcome: str) -> Callable[[Mapping[str, Any]], None]:
    def update(e: Mapping[str, Any]) -> None:
        DELIVERIES.labels(e["channel"], outcome).inc()
        DELIVERY_SECONDS.labels(e["channel"]).observe(e["latency_ms"] / 1000)

    return update


def _rpc(e: Mapping[str, Any]) -> None:
    RPCS.labels(e["rpc"], e["outcome"]).inc()
    RPC_SECONDS.labels(e["rpc"]).observe(e["ms"] / 1000)


def _not_handled(outcome: str) -> Callable[[Mapping[str, Any]], None]:
    def update(e: Mapping[str, Any]) -> None:
        MESSAGES_NOT_HANDLED.labels(_subject_family(e["subject"]), outcome).inc()

    return update


_UPDATES: Final[Mapping[str, Callable[[Mapping[str, Any]], None]]] = {
    "dispute_received": lambda e: RECEIVED.labels(e["channel"], e["category"]).inc(),
    "dispute_republished": lambda e: REPUBLISHED.inc(),
    "dispute_routed": lambda e: DECISIONS.labels(SUBMITTED, e["route"], e["rule_id"]).inc(),
    "dispute_escalated": lambda e: DECISIONS.labels(e["trigger"], e["route"], e["rule_id"]).inc(),
    "notification_sent": _delivery("sent"),
    "notification_failed": _delivery("failed"),
    "notification_dead_lettered": lambda e: DEAD_LETTERS.inc(),
    "notification_unroutable": lambda e: UNROUTABLE.labels(e["role"]).inc(),
    "rpc_finished": _rpc,
    "rpc_crashed": lambda e: RPCS.labels(e["rpc"], "crashed").inc(),
    "message_failed": _not_handled("failed"),
    "message_rejected": _not_handled("rejected"),
    "nats_error": lambda e: NATS_ERRORS.inc(),
    "policy_loaded": _policy,
    "policy_activated": _policy,
    "deadline_estimated": lambda e: ESTIMATED.inc(),
}


# The events that update a metric.
EVENTS: Final = frozenset(_UPDATES)


def record(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """structlog processor: update the metric an event stands for, if any."""
    update = _UPDATES.get(str(event.get("event")))
    if update is not None:
        # An event missing a field still gets its log line: a metric is never worth a crash.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            update(event)
    return event


class MetricsServer:
    """The scrape endpoint, on a thread of its own (prometheus_client's WSGI server)."""

    def __init__(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self._server, self._thread = prometheus_client.start_http_server(int(port), host)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
