"""Anonymisation of one record and its notifications, without NATS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from fengqiao.domain.anonymise import (
    ANONYMISED,
    REMOVED,
    Scrubber,
    anonymise_notification,
    anonymise_record,
    is_due,
    mask_phone,
)
from fengqiao.domain.errors import FailedPrecondition
from fengqiao.domain.lifecycle import apply_event
from fengqiao.domain.model import (
    CaseEvent,
    Dispute,
    DisputeRecord,
    Notification,
    Status,
    TimelineEntry,
)
from fengqiao.platform.convert import dispute_from_proto, record_to_proto
from tests.conftest import sample

CLOSED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
KEEP = timedelta(days=365)


def secrets_of(d: Dispute) -> list[str]:
    """What identifies the parties of `d`: summary, address, then each party's name,
    phone, masked phone, ID number and email (those given)."""
    out = [d.summary, d.location.address]
    for p in d.parties:
        out += [p.name, p.phone, mask_phone(p.phone), p.id_number, p.email]
    return [s for s in out if s]


def closed_record() -> DisputeRecord:
    dispute = dispute_from_proto(sample("01").dispute)
    first, second = dispute.parties
    dispute = replace(
        dispute,
        id="FQ-20260101-0123456789",
        parties=(replace(first, id_number="620702195003150028", email="wxl@example.cn"), second),
    )
    said = f"已电话联系{first.name}（{mask_phone(first.phone)}），{second.name}同意调低音量"
    return DisputeRecord(
        dispute=dispute,
        status=Status.RESOLVED,
        request_id="sample-01",
        timeline=(
            TimelineEntry(at=CLOSED, kind="note", summary=said, actor="网格员 王芳", event_id="n1"),
            TimelineEntry(at=CLOSED, kind="resolved", summary="已化解", event_id="r1"),
        ),
        closed_at=CLOSED,
    )


def test_no_party_detail_is_left_anywhere_in_the_record() -> None:
    record = closed_record()
    secrets = secrets_of(record.dispute)
    assert len(secrets) == 10  # summary, address; 2 names, phones, masked phones; id, email
    clean = anonymise_record(record, CLOSED + KEEP, Scrubber.of(record.dispute), note="已脱敏")
    text = json_format.MessageToJson(record_to_proto(clean), ensure_ascii=False)
    assert [s for s in secrets if s in text] == []
    assert [p.name for p in clean.dispute.parties] == ["当事人1", "当事人2"]
    assert clean.timeline[0].summary == "已电话联系当事人1（***），当事人2同意调低音量"
    assert clean.timeline[0].actor == "网格员 王芳"  # staff are not parties
    assert clean.dispute.summary == REMOVED and clean.timeline[-1].kind == ANONYMISED
    # What statistics read stays.
    kept = clean.dispute
    assert (kept.category, kept.location.path(), kept.amount_fen, kept.channel) == (
        record.dispute.category, record.dispute.location.path(), record.dispute.amount_fen,
        record.dispute.channel,
    )  # fmt: skip
    assert (clean.status, clean.closed_at) == (record.status, record.closed_at)


def test_due_only_when_closed_long_enough_and_not_done_yet() -> None:
    record = closed_record()
    assert is_due(record, CLOSED + KEEP, KEEP)
    assert not is_due(record, CLOSED + KEEP - timedelta(seconds=1), KEEP)
    still_open = replace(record, status=Status.IN_MEDIATION, closed_at=None)
    assert not is_due(still_open, CLOSED + 2 * KEEP, KEEP)
    done = anonymise_record(record, CLOSED + KEEP, Scrubber.of(record.dispute), note="已脱敏")
    assert not is_due(done, CLOSED + 2 * KEEP, KEEP)


def test_a_longer_secret_is_replaced_before_a_name_inside_it() -> None:
    record = closed_record()
    name = record.dispute.parties[0].name
    email = f"{name}@example.cn"
    first = replace(record.dispute.parties[0], email=email)
    scrub = Scrubber.of(replace(record.dispute, parties=(first,)))
    assert scrub(f"邮件 {email}，{name}") == "邮件 ***，当事人1"


def test_a_notification_keeps_who_was_told_when_but_not_the_party() -> None:
    record = closed_record()
    party = record.dispute.parties[0]
    n = Notification(
        id=f"{record.id}.routed.abc", dispute_id=record.id, event="routed",
        recipient_id=f"party@{record.id}/0", recipient_role="party",
        recipient_label=f"申请人{party.name}", channel="sms",
        message=f"{party.name}您好：您反映的纠纷已受理。", created_at=CLOSED,
        address=party.phone,
    )  # fmt: skip
    clean = anonymise_notification(n, Scrubber.of(record.dispute))
    assert (clean.recipient_label, clean.address) == ("申请人当事人1", "***")
    assert clean.message == "当事人1您好：您反映的纠纷已受理。"
    assert (clean.id, clean.recipient_id, clean.channel, clean.created_at) == (
        n.id, n.recipient_id, n.channel, n.created_at,
    )  # fmt: skip


def test_an_anonymised_dispute_takes_no_more_events() -> None:
    record = closed_record()
    note = CaseEvent(kind="note", actor="网格员 王芳", reason="再次电话联系王秀兰")
    assert apply_event(record, note, "n2", CLOSED).timeline[-1].event_id == "n2"
    done = anonymise_record(record, CLOSED + KEEP, Scrubber.of(record.dispute), note="已脱敏")
    with pytest.raises(FailedPrecondition, match="脱敏"):
        apply_event(done, note, "n3", CLOSED + KEEP)


def test_an_event_id_cannot_fake_the_mark() -> None:
    record = closed_record()
    note = CaseEvent(kind="note", actor="网格员 王芳", reason="已归档")
    noted = apply_event(record, note, ANONYMISED, CLOSED)  # a caller's chosen event id
    assert noted.timeline[-1].event_id == ANONYMISED
    assert is_due(noted, CLOSED + KEEP, KEEP)
