"""Keyset paging: the page token is the sort key of the last item returned, so items
added meanwhile neither repeat nor shift the next page. The read model's queries page with
these; the sizes and the token are checked here, the same for every listing."""

from __future__ import annotations

import base64
import binascii
import json

from fengqiao.domain.errors import FieldViolation, InvalidArgument

SortKey = tuple[str, str]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def check_page_size(page_size: int) -> int:
    """The page size asked for (0: the default); `InvalidArgument` outside 0..MAX."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(
            [
                FieldViolation(
                    "page_size",
                    f"每页条数应在 1 到 {MAX_PAGE_SIZE} 之间"
                    f"（page_size must be 1..{MAX_PAGE_SIZE}, 0 for {DEFAULT_PAGE_SIZE}）",
                )
            ]
        )
    return page_size or DEFAULT_PAGE_SIZE


def encode_token(key: SortKey) -> str:
    """The page token that continues after the item with sort key `key`."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_token(token: str) -> SortKey:
    """The sort key a page token continues after; `InvalidArgument` if it is not one."""
    try:
        a, b = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(a), str(b)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise invalid_token() from exc


def invalid_token() -> InvalidArgument:
    return InvalidArgument(
        [
            FieldViolation(
                "page_token",
                "翻页标记无效，请使用上一页返回的 next_page_token"
                "（page_token is not one this service returned）",
            )
        ]
    )
