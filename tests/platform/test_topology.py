"""The topology table is what runs and what is allowed: the durable consumers the running
services hold are exactly its rows, the subjects a dispute leaves on the streams are ones
it says someone publishes, each row's handler exists, and each service's NATS user in
`deploy/nats/auth.conf` may run its own durables, none of another's, and publish exactly
what the table says it publishes and writes. The console, no hop of the journey, runs no
durable, publishes no stream subject, follows the disputes bucket without deleting
consumers there and writes the policies bucket only; every process reads only its own
replies."""

from __future__ import annotations

import inspect
import re

import grpc
import pytest

from fengqiao import stack
from fengqiao.notification.delivery import DeliveryWorker
from fengqiao.notification.worker import NotificationWorker
from fengqiao.platform import topology
from fengqiao.platform.bus import (
    DLQ_STREAM,
    KV_DISPUTES,
    KV_POLICIES,
    NOTIFY_STREAM,
    STREAM,
    TIMER,
    Bus,
    declared_names,
    kv_stream,
)
from fengqiao.platform.nats_client import inbox_prefix
from fengqiao.platform.topology import PUBLISHES, SERVICES, SUBSCRIPTIONS, WRITES
from fengqiao.stack import Stack
from fengqiao.triage.worker import TriageWorker
from fengqiao.v1 import intake_pb2, intake_pb2_grpc
from tests.conftest import ROOT
from tests.domain.test_kinds import PACKAGE, literals
from tests.intake.test_record_event import event, routed_dispute
from tests.support import eventually

AUTH = ROOT / "deploy" / "nats" / "auth.conf"
BUS = PACKAGE / "platform" / "bus.py"
# How a subject or stream name of fengqiao's begins: each stream's subjects, and NATS'
# names for a KV bucket's stream and its subjects.
SUBJECT_STARTS = ("disputes.", "notify.", "dlq.", "status.", "$KV.", "KV_")
# The console reads and changes disputes through the services' gRPC APIs; on the bus it
# follows the disputes bucket for its live board and, for policy staff, writes versions to
# the policies bucket as the `policy` user does.
CONSOLE = "console"
CONSOLE_WRITES = (KV_POLICIES,)


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def _auth_text() -> str:
    """auth.conf, comments left out."""
    return "\n".join(line.split("#")[0] for line in AUTH.read_text().splitlines())


def allowed_to_publish(user: str) -> list[str]:
    """The publish permissions of `user` in auth.conf (its block, comments left out)."""
    block = re.search(rf"\b{user.upper()} = \{{\s*publish: \[(.*?)\]", _auth_text(), re.DOTALL)
    assert block is not None, f"auth.conf has no permissions for {user}"
    return re.findall(r'"([^"]+)"', block.group(1))


def allowed_to_subscribe(user: str) -> list[str]:
    """The subscribe permissions of `user` in auth.conf."""
    pattern = rf"\b{user.upper()} = \{{\s*publish: \[.*?\]\s*subscribe: \[(.*?)\]"
    block = re.search(pattern, _auth_text(), re.DOTALL)
    assert block is not None, f"auth.conf has no subscribe permissions for {user}"
    return re.findall(r'"([^"]+)"', block.group(1))


def concrete(pattern: str) -> str:
    """A subject `pattern` matches: each wildcard one token."""
    return ".".join("x" if token in ("*", ">") else token for token in pattern.split("."))


def may(user: str, subject: str) -> bool:
    return any(matches(p, subject) for p in allowed_to_publish(user))


def test_subject_matching_follows_nats() -> None:
    assert matches("disputes.timer.deadline.>", "disputes.timer.deadline.FQ-1.1")
    assert not matches("disputes.timer.deadline.>", "disputes.timer.deadline")
    assert matches("$JS.API.CONSUMER.INFO.DISPUTES.*", "$JS.API.CONSUMER.INFO.DISPUTES.triage")
    assert not matches("$JS.API.CONSUMER.INFO.DISPUTES.triage", "$JS.API.CONSUMER.INFO.X.triage")


def test_durable_names_are_unique_and_every_handler_exists() -> None:
    assert len({(s.stream, s.durable) for s in SUBSCRIPTIONS}) == len(SUBSCRIPTIONS)
    classes = {c.__name__: c for c in (TriageWorker, NotificationWorker, DeliveryWorker)}
    for sub in SUBSCRIPTIONS:
        owner, method = sub.handler.split(".")
        assert inspect.iscoroutinefunction(getattr(classes[owner], method)), sub


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_user_may_run_its_own_durables_and_no_others(service: str) -> None:
    for sub in SUBSCRIPTIONS:
        api = "$JS.API.CONSUMER"
        needed = (
            f"{api}.CREATE.{sub.stream}.{sub.durable}.{sub.subject}",
            f"{api}.INFO.{sub.stream}.{sub.durable}",
            f"{api}.MSG.NEXT.{sub.stream}.{sub.durable}",
        )
        if sub.service == service:
            assert all(may(service, s) for s in needed), sub
        else:
            assert not may(service, needed[0]), sub


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_user_publishes_exactly_what_the_table_says(service: str) -> None:
    outside_the_api = {
        p
        for p in allowed_to_publish(service)
        if not p.startswith(("$JS.API.", "$JS.ACK", "$JS.FC"))
    }
    assert outside_the_api == {*PUBLISHES[service], *(f"$KV.{b}.>" for b in WRITES[service])}


def test_every_process_reads_only_its_own_replies() -> None:
    """Each service's replies arrive under its own inbox prefix, the only subjects its user
    may subscribe to: no service can read another's replies."""
    users = set(re.findall(r"\{user: (\w+),", _auth_text()))
    assert set(stack.SERVICES) == {*SERVICES, CONSOLE} and set(stack.SERVICES) <= users
    for service in stack.SERVICES:
        assert allowed_to_subscribe(service) == [f"{inbox_prefix(service)}.>"], service


def test_the_console_runs_no_durable_and_touches_no_services_consumer() -> None:
    api = "$JS.API.CONSUMER"
    for sub in SUBSCRIPTIONS:
        for subject in (
            f"{api}.CREATE.{sub.stream}.{sub.durable}.{sub.subject}",
            f"{api}.INFO.{sub.stream}.{sub.durable}",
            f"{api}.MSG.NEXT.{sub.stream}.{sub.durable}",
            f"{api}.DELETE.{sub.stream}.{sub.durable}",
        ):
            assert not may(CONSOLE, subject), subject
    for stream in (STREAM, NOTIFY_STREAM, DLQ_STREAM):
        assert not may(CONSOLE, f"{api}.CREATE.{stream}"), stream
        assert not may(CONSOLE, f"{api}.CREATE.{stream}.x.x"), stream


def test_the_console_publishes_no_stream_subject_and_writes_only_the_policies_bucket() -> None:
    outside_the_api = {
        p
        for p in allowed_to_publish(CONSOLE)
        if not p.startswith(("$JS.API.", "$JS.ACK", "$JS.FC"))
    }
    assert outside_the_api == {f"$KV.{b}.>" for b in CONSOLE_WRITES}
    # Not one subject of the journey: what the services publish, the timers the server
    # fires, a dispute's record or anything else a service writes.
    journey = {concrete(p) for patterns in PUBLISHES.values() for p in patterns}
    written = {f"$KV.{b}.x" for buckets in WRITES.values() for b in buckets}
    for subject in {*journey, f"{TIMER}.deadline.x.1", *(written - {f"$KV.{KV_POLICIES}.x"})}:
        assert not may(CONSOLE, subject), subject
    # Nor change a stream or delete a message, on any stream.
    for name in declared_names():
        for action in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE"):
            assert not may(CONSOLE, f"$JS.API.STREAM.{action}.{name}"), (action, name)


def test_the_console_follows_the_disputes_bucket_and_deletes_no_consumer_there() -> None:
    """Its live board is an ordered consumer of the bucket's stream (the subject nats-py
    creates one with); intake's read model follows the same stream, so the console may
    delete no consumer of it."""
    stream = kv_stream(KV_DISPUTES)
    assert may(CONSOLE, f"$JS.API.STREAM.INFO.{stream}")
    assert may(CONSOLE, f"$JS.API.CONSUMER.CREATE.{stream}")
    assert not may(CONSOLE, f"$JS.API.CONSUMER.DELETE.{stream}.x")
    # Reading a record is the services' APIs' work, which check who asks.
    assert not may(CONSOLE, f"$JS.API.DIRECT.GET.{stream}.$KV.{KV_DISPUTES}.x")


def test_the_console_may_do_with_policy_versions_what_policy_staff_may() -> None:
    """Users with the `policy` role publish and roll back versions in the console, as
    `fengqiao rules publish | rollback` does as the `policy` user."""
    assert set(allowed_to_publish("policy")) <= set(allowed_to_publish(CONSOLE))


async def test_the_running_services_hold_exactly_the_tables_consumers(
    stack: Stack, bus: Bus
) -> None:
    held = {
        (stream, c.config.durable_name, c.config.filter_subject)
        for stream in (STREAM, NOTIFY_STREAM)
        for c in await bus.js.consumers_info(stream)
        if c.config.durable_name
    }
    assert held == {(s.stream, s.durable, s.subject) for s in SUBSCRIPTIONS}
    assert {s.service for s in SUBSCRIPTIONS} == set(stack.services) - {topology.INTAKE}


async def test_a_disputes_subjects_are_ones_the_table_says_someone_publishes(
    intake_channel: grpc.aio.Channel, bus: Bus
) -> None:
    intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
    dispute_id = await routed_dispute(intake)
    await intake.RecordEvent(event(dispute_id, "accepted"))
    await eventually(
        lambda: intake.GetDispute(intake_pb2.GetDisputeRequest(dispute_id=dispute_id)),
        lambda r: any(e.kind == "notified" for e in r.timeline),
    )
    subjects = set()
    for stream in (STREAM, NOTIFY_STREAM):
        info = await bus.js.stream_info(stream, subjects_filter=">")
        subjects |= set(info.state.subjects or {})
    published = {p for service in SERVICES for p in PUBLISHES[service]}
    assert all(any(matches(p, s) for p in published) for s in subjects), subjects
    # Submitted, event, routed, schedule and notify: each a row of the table.
    used = {p for p in published if any(matches(p, s) for s in subjects)}
    assert len(used) == 5, used


def test_architecture_md_names_every_hop_of_the_table() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for sub in SUBSCRIPTIONS:
        assert f"`{sub.durable}`" in text and f"`{sub.handler}`" in text, sub


def test_no_module_but_the_bus_spells_a_subject() -> None:
    """Subjects and stream names are written once, in `platform/bus.py`; every other
    module builds its own from the names and functions there."""
    files = [f for f in sorted(PACKAGE.rglob("*.py")) if f != BUS and "v1" not in f.parts]
    assert len(files) > 100
    spelled = {
        (str(f.relative_to(PACKAGE)), s)
        for f in files
        for s in literals(f, docstrings=False)
        if s.startswith(SUBJECT_STARTS)
    }
    assert not spelled
    assert {s for s in literals(BUS, docstrings=False) if s.startswith(SUBJECT_STARTS)}
