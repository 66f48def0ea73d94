"""The log processor that keeps personal data out of every written line."""

from __future__ import annotations

import json

import pytest
import structlog

from fengqiao.domain.model import Dispute, Location, Party
from fengqiao.platform import redact
from fengqiao.platform.logs import bound, configure_logging

DISPUTE = Dispute(
    category="neighbour_noise",
    summary="欧阳建国反映楼上噪音",
    parties=(
        Party("欧阳建国", "applicant", phone="1391234567", id_number="62070219900307123X"),
        Party("司马秀英", "respondent", phone="15887654321", email="sima@example.com"),
    ),
    location=Location(address="南关小区7号楼"),
    id="FQ-20261122-5ad8cd7e8e",
)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_numbers_that_look_like_phones_ids_or_emails_are_masked_anywhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    structlog.get_logger().info(
        "delivery_failed",
        error="550 no such user sima@example.com; call 138-1234-5678 or 0936-8123456",
        detail=["身份证 620702199003071234 不符", {"nested": "电话13912345678"}],
        dispute_id="FQ-20261122-5ad8cd7e8e",
        notification_id="FQ-1.ev-2.a13912345678b0c9d1e2",
        ms=13912345678,
    )
    (line,) = _lines(capsys)
    text = json.dumps([line["error"], line["detail"]], ensure_ascii=False)
    for secret in ("sima@example.com", "1234-5678", "8123456", "620702199003071234", "13912345678"):
        assert secret not in text, secret
    assert "138****5678" in str(line["error"])
    # Ids and numbers that are not personal stay as they were.
    assert line["dispute_id"] == "FQ-20261122-5ad8cd7e8e"
    assert line["notification_id"] == "FQ-1.ev-2.a13912345678b0c9d1e2"
    assert line["ms"] == 13912345678


def test_the_names_and_numbers_of_the_dispute_in_hand_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger()
    with bound(dispute_id=DISPUTE.id), redact.about(DISPUTE):
        # A malformed number no pattern would catch is still the party's own.
        log.warning(
            "odd", reason="司马秀英不同意；欧阳建国留的电话 1391234567 打不通，南关小区7号楼"
        )
        try:
            raise ValueError("欧阳建国")
        except ValueError:
            log.exception("crashed")
    log.info("after", reason="欧阳建国")
    odd, crashed, after = _lines(capsys)
    assert odd["reason"] == "[name]不同意；[name]留的电话 [name] 打不通，[name]"
    assert "欧阳建国" not in str(crashed["exception"])
    assert odd["dispute_id"] == DISPUTE.id
    assert after["reason"] == "欧阳建国", "the names are known only while the dispute is handled"


def test_fields_named_as_personal_are_masked_whatever_they_hold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    structlog.get_logger().info(
        "notification_logged", message="王芳您好", name="王芳", phone="", recipient="party@FQ-1/0"
    )
    (line,) = _lines(capsys)
    assert line["message"] == line["name"] == redact.MASK
    assert line["recipient"] == "party@FQ-1/0"


def test_a_line_below_the_level_never_reaches_the_processor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counting(text: str, known: tuple[str, ...] = ()) -> str:
        calls.append(text)
        return text

    monkeypatch.setattr(redact, "clean", counting)
    configure_logging("json", "info")
    structlog.get_logger().debug("projection_applied", detail="13912345678")
    assert not calls and not capsys.readouterr().err
