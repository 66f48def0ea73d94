from __future__ import annotations

from dataclasses import replace

import pytest

from fengqiao.domain import InvalidArgument, Party
from fengqiao.domain.validation import validate_dispute, validate_submission
from fengqiao.platform.convert import dispute_from_proto
from tests.conftest import sample, samples


def _fields(exc: InvalidArgument) -> list[str]:
    return [v.field for v in exc.violations]


def test_every_shipped_sample_is_valid() -> None:
    for request in samples():
        validate_submission(request.request_id, dispute_from_proto(request.dispute))


def test_missing_category_and_negative_amount_are_both_named() -> None:
    good = dispute_from_proto(sample("01").dispute)
    with pytest.raises(InvalidArgument) as info:
        validate_dispute(replace(good, category="", amount_fen=-1))
    assert _fields(info.value) == ["dispute.category", "dispute.amount_fen"]
    assert "必填" in info.value.violations[0].description


def test_unknown_codes_list_the_allowed_ones() -> None:
    good = dispute_from_proto(sample("01").dispute)
    with pytest.raises(InvalidArgument) as info:
        validate_dispute(replace(good, channel="fax", risk_flags=("violence", "violence", "x")))
    by_field = {v.field: v.description for v in info.value.violations}
    assert "letter" in by_field["dispute.channel"]
    assert set(by_field) == {"dispute.channel", "dispute.risk_flags[1]", "dispute.risk_flags[2]"}


def test_parties_and_location_are_checked_field_by_field() -> None:
    good = dispute_from_proto(sample("01").dispute)
    bad = replace(
        good,
        parties=(Party(name="", role="boss", phone="12"),),
        location=replace(good.location, grid="", street="东街/西街"),
    )
    with pytest.raises(InvalidArgument) as info:
        validate_dispute(bad)
    assert _fields(info.value) == [
        "dispute.location.street",
        "dispute.location.grid",
        "dispute.parties[0].name",
        "dispute.parties[0].role",
        "dispute.parties[0].phone",
    ]


def test_request_id_is_required_and_bounded() -> None:
    good = dispute_from_proto(sample("01").dispute)
    for request_id in ("", "   ", "x" * 129):
        with pytest.raises(InvalidArgument) as info:
            validate_submission(request_id, good)
        assert _fields(info.value) == ["request_id"]
    validate_submission("x" * 128, good)
