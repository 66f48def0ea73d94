"""Keyset paging: the page token is the sort key of the last item
returned, so items added meanwhile neither repeat nor shift the next page."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from fengqiao.domain.errors import FieldViolation, InvalidArgument

T = TypeVar("T")
SortKey = tuple[str, str]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_of(
    items: Sequence[T],
    key: Callable[[T], SortKey],
    page_size: int,
    page_token: str,
    *,
    newest_first: bool = False,
) -> tuple[list[T], str]:
    """One page of `items` ordered by `key`, and the token for the next page ("" at the end)."""
    size = check_page_size(page_size)
    ordered = sorted(items, key=key, reverse=newest_first)
    if page_token:
        after = decode_token(page_token)
        ordered = [i for i in ordered if (key(i) < after if newest_first else key(i) > after)]
    page = ordered[:size]
    token = encode_token(key(page[-1])) if len(ordered) > size else ""
    return page, token


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
