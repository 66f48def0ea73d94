"""Dispute ids: how they are made and what a valid one looks like."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Final

from fengqiao.domain.errors import FieldViolation, InvalidArgument
from fengqiao.domain.model import CHINA

DISPUTE_ID: Final = re.compile(r"^FQ-\d{8}-[0-9a-f]{10}$")


def new_dispute_id(now: datetime) -> str:
    """`FQ-<date in China>-<10 hex>`: readable on the phone, safe as a NATS subject token."""
    return f"FQ-{now.astimezone(CHINA):%Y%m%d}-{secrets.token_hex(5)}"


def check_dispute_id(dispute_id: str, field: str = "dispute_id") -> str:
    if not DISPUTE_ID.match(dispute_id):
        raise InvalidArgument(
            [
                FieldViolation(
                    field,
                    "纠纷编号格式应为 FQ-日期-10位编码，例如 FQ-20261121-3fa9c2d1e0"
                    "（dispute_id looks like FQ-20261121-3fa9c2d1e0）",
                )
            ]
        )
    return dispute_id
