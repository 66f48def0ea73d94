"""The topology table is what runs and what is allowed: the durable consumers the running
services hold are exactly its rows, the subjects a dispute leaves on the streams are ones
it says someone publishes, each row's handler exists, and each service's NATS user in
`deploy/nats/auth.conf` may run its own durables, none of another's, and publish exactly
what the table says it publishes and writes."""

from __future__ import annotations

import inspect
import re

import grpc
import pytest

from fengqiao.notification.delivery import DeliveryWorker
from fengqiao.notification.worker import NotificationWorker
from fengqiao.platform import topology
from fengqiao.platform.bus import NOTIFY_STREAM, STREAM, Bus
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
SUBJECT_STARTS = ("disputes.", "notify.", "dlq.", "$KV.", "KV_")


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def allowed_to_publish(user: str) -> list[str]:
    """The publish permissions of `user` in auth.conf (its block, comments left out)."""
    text = "\n".join(line.split("#")[0] for line in AUTH.read_text().splitlines())
    block = re.search(rf"\b{user.upper()} = \{{\s*publish: \[(.*?)\]", text, re.DOTALL)
    assert block is not None, f"auth.conf has no permissions for {user}"
    return re.findall(r'"([^"]+)"', block.group(1))


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
