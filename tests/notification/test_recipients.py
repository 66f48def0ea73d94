from __future__ import annotations

from datetime import UTC, datetime

from fengqiao.domain import Decision, Priority, Route
from fengqiao.domain.anonymise import mask_phone
from fengqiao.notification.messages import agreement_message, assignment_message
from fengqiao.notification.recipients import parties, recipients
from fengqiao.platform.convert import dispute_from_proto
from tests.conftest import sample


def decision(notify: tuple[str, ...]) -> Decision:
    at = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    return Decision(
        rule_id="r",
        rule_title="t",
        route=Route.STREET_OFFICE,
        route_label="街道联合调解",
        handler="street_governance_centre",
        handler_label="街道综治中心",
        priority=Priority.URGENT,
        deadline=at,
        reason="理由",
        policy_version="v",
        notify=notify,
        decided_at=at,
    )


def test_each_role_is_addressed_at_the_level_it_serves_and_every_party_once() -> None:
    dispute = dispute_from_proto(sample("07").dispute)
    loc = dispute.location
    found = recipients(
        dispute,
        decision(
            ("grid_worker", "police_station", "party", "grid_worker", "court_mediation_centre")
        ),
    )
    ids = [r.id for r in found]
    assert ids[:2] == [
        f"grid_worker@{loc.district}/{loc.street}/{loc.community}/{loc.grid}",
        f"police_station@{loc.district}/{loc.street}",
    ]
    assert ids[-1] == f"court_mediation_centre@{loc.district}"
    assert [r.party_index for r in found if r.role == "party"] == list(range(len(dispute.parties)))
    assert len(ids) == len(set(ids))


def test_phones_are_masked_for_institutions_and_parties_are_addressed_by_name() -> None:
    dispute = dispute_from_proto(sample("07").dispute)
    found = recipients(dispute, decision(("street_governance_centre", "party")))
    to_office = assignment_message(dispute, decision(()), found[0], None)
    phones = [p.phone for p in dispute.parties if p.phone]
    assert phones and all(p not in to_office and mask_phone(p) in to_office for p in phones)
    assert to_office.startswith("【紧急】")
    to_party = assignment_message(dispute, decision(()), found[1], None)
    assert dispute.parties[0].name in to_party and dispute.id in to_party


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0936-8212345") == "093****2345"
    assert mask_phone("12") == "****"


def test_escalation_and_agreement_messages() -> None:
    dispute = dispute_from_proto(sample("01").dispute)
    office = recipients(dispute, decision(("street_governance_centre",)))[0]
    text = assignment_message(dispute, decision(()), office, Route.LOCAL)
    assert text.startswith("【紧急】【升级】") and "由就地化解升级" in text
    first = parties(dispute)[0]
    assert "已移交街道联合调解" in assignment_message(dispute, decision(()), first, Route.LOCAL)
    notice = agreement_message(dispute, first)
    assert (
        notice.startswith(dispute.parties[0].name) and "30日内" in notice and "司法确认" in notice
    )


def test_only_the_applicant_is_told_they_reported_it() -> None:
    dispute = dispute_from_proto(sample("01").dispute)
    applicant, respondent = parties(dispute)
    assert [p.role for p in dispute.parties] == ["applicant", "respondent"]
    for escalated_from in (None, Route.LOCAL):
        to_applicant = assignment_message(dispute, decision(()), applicant, escalated_from)
        to_respondent = assignment_message(dispute, decision(()), respondent, escalated_from)
        assert "您反映的" in to_applicant
        assert "您反映" not in to_respondent and "已受理" not in to_respondent
        assert "与您有关" in to_respondent and "您为被申请人" in to_respondent
        assert to_respondent.startswith(f"【紧急】{dispute.parties[1].name}您好")
