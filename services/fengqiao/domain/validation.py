"""Checks a submitted dispute and names every field that is wrong, in Chinese and English."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fengqiao.domain.errors import FieldViolation, InvalidArgument, quoted
from fengqiao.domain.model import Dispute
from fengqiao.domain.vocabulary import CATEGORIES, CHANNELS, PARTY_ROLES, RISK_FLAGS

MAX_REQUEST_ID = 128
MAX_SUMMARY = 4000
MAX_PARTIES = 200
# ¥10 billion: far above any civil dispute, low enough to catch a unit mix-up.
MAX_AMOUNT_FEN = 10**12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8}|\d{5,8})$")


def _choices(vocabulary: Mapping[str, str]) -> str:
    return ", ".join(vocabulary)


def _required(field: str, zh: str) -> FieldViolation:
    return FieldViolation(field, f"必填：{zh}（required: {field.rsplit('.', 1)[-1]}）")


def _unknown(field: str, zh: str, value: str, vocabulary: Mapping[str, str]) -> FieldViolation:
    return FieldViolation(
        field,
        f"未知的{zh} {quoted(value)}（unknown {field.rsplit('.', 1)[-1]}; use one of: "
        f"{_choices(vocabulary)}）",
    )


def _check_code(
    out: list[FieldViolation], field: str, zh: str, value: str, vocabulary: Mapping[str, str]
) -> None:
    if not value:
        out.append(_required(field, zh))
    elif value not in vocabulary:
        out.append(_unknown(field, zh, value, vocabulary))


def validate_submission(request_id: str, dispute: Dispute) -> None:
    """Raise `InvalidArgument` listing every problem with a submission, or return."""
    out = _request_id_problems(request_id) + _dispute_problems(dispute)
    if out:
        raise InvalidArgument(out)


def validate_dispute(dispute: Dispute) -> None:
    """Raise `InvalidArgument` listing every problem with a dispute, or return."""
    out = _dispute_problems(dispute)
    if out:
        raise InvalidArgument(out)


def _request_id_problems(request_id: str) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    if not request_id.strip():
        out.append(_required("request_id", "请求编号"))
    elif len(request_id) > MAX_REQUEST_ID:
        out.append(
            FieldViolation(
                "request_id",
                f"请求编号过长（request_id is longer than {MAX_REQUEST_ID} characters）",
            )
        )
    return out


def _dispute_problems(dispute: Dispute) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    _check_code(out, "dispute.category", "纠纷类别", dispute.category, CATEGORIES)
    _check_code(out, "dispute.channel", "受理渠道", dispute.channel, CHANNELS)
    if not dispute.summary.strip():
        out.append(_required("dispute.summary", "纠纷简要情况"))
    elif len(dispute.summary) > MAX_SUMMARY:
        out.append(
            FieldViolation(
                "dispute.summary",
                f"简要情况超过 {MAX_SUMMARY} 字，请精简或作为附件提交"
                f"（summary is longer than {MAX_SUMMARY} characters）",
            )
        )
    if dispute.amount_fen < 0:
        out.append(
            FieldViolation(
                "dispute.amount_fen",
                "涉及金额不能为负数；无金额请填 0（amount_fen must be 0 or more）",
            )
        )
    elif dispute.amount_fen > MAX_AMOUNT_FEN:
        out.append(
            FieldViolation(
                "dispute.amount_fen",
                "涉及金额超出上限，请确认单位为“分”（amount_fen is in fen and exceeds 10^12）",
            )
        )
    _check_location(out, dispute)
    _check_parties(out, dispute)
    seen: set[str] = set()
    for i, flag in enumerate(dispute.risk_flags):
        field = f"dispute.risk_flags[{i}]"
        if flag not in RISK_FLAGS:
            out.append(_unknown(field, "风险标记", flag, RISK_FLAGS))
        elif flag in seen:
            out.append(FieldViolation(field, f"风险标记 {flag!r} 重复（duplicate risk flag）"))
        seen.add(flag)
    return out


def _check_location(out: list[FieldViolation], dispute: Dispute) -> None:
    loc = dispute.location
    for name, zh in (
        ("district", "区县"),
        ("street", "街道/乡镇"),
        ("community", "社区/村"),
        ("grid", "网格"),
    ):
        value: str = getattr(loc, name)
        if not value.strip():
            out.append(_required(f"dispute.location.{name}", zh))
        elif "/" in value:
            out.append(
                FieldViolation(
                    f"dispute.location.{name}", f"{zh}名称不能含“/”（must not contain '/'）"
                )
            )


def _check_parties(out: list[FieldViolation], dispute: Dispute) -> None:
    if not dispute.parties:
        out.append(
            FieldViolation(
                "dispute.parties", "至少填写一名当事人（at least one party is required）"
            )
        )
    elif len(dispute.parties) > MAX_PARTIES:
        out.append(
            FieldViolation(
                "dispute.parties",
                f"当事人超过 {MAX_PARTIES} 人，请按代表人登记（more than {MAX_PARTIES} parties）",
            )
        )
    for i, party in enumerate(dispute.parties):
        prefix = f"dispute.parties[{i}]"
        if not party.name.strip():
            out.append(_required(f"{prefix}.name", "当事人姓名"))
        _check_code(out, f"{prefix}.role", "当事人身份", party.role, PARTY_ROLES)
        if party.email and not _EMAIL.match(party.email):
            out.append(
                FieldViolation(
                    f"{prefix}.email", "电子邮箱格式不正确（email must look like name@example.cn）"
                )
            )
        if party.phone and not _PHONE.match(party.phone):
            out.append(
                FieldViolation(
                    f"{prefix}.phone",
                    "联系电话格式不正确，应为 11 位手机号或带区号的固话"
                    "（phone must be a mobile number or an area-code landline）",
                )
            )
