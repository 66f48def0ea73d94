"""Personal data kept out of log lines: one structlog processor (`redact`) that masks
phone numbers, PRC ID numbers and email addresses wherever they appear in a line, the
values of fields named as personal, and the personal strings (parties' names, numbers,
the address) of the dispute being handled.

Those strings are known where a request or message about a dispute enters
(`about(dispute)`), held in a context variable of that task, and never bound to the line
itself. The processor runs only on lines that are written: a line below the log level
never reaches it, so a filtered-out line costs what it did before (a set look-up).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, Protocol

from fengqiao.domain.anonymise import mask_phone


class _Party(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def id_number(self) -> str: ...
    @property
    def email(self) -> str: ...


class _Location(Protocol):
    @property
    def address(self) -> str: ...


class Dispute(Protocol):
    """A dispute as the domain or protobuf holds it: both have these fields."""

    @property
    def summary(self) -> str: ...
    @property
    def location(self) -> _Location: ...
    @property
    def parties(self) -> Iterable[_Party]: ...


# Fields whose value is personal by name, whatever it holds.
PERSONAL_FIELDS: Final = frozenset(
    {
        "name",
        "names",
        "party",
        "parties",
        "phone",
        "id_number",
        "email",
        "address",
        "summary",
        "message",
        "text",
    }
)
MASK: Final = "[redacted]"
NAME_MASK: Final = "[name]"

# Not preceded or followed by a letter or digit, so a run of digits inside a hex digest
# or a longer number is left alone; Chinese text around a number does not protect it.
_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_NUMBERS: Final = re.compile(
    _EDGE_BEFORE
    + r"(?:"
    + r"(?P<id>\d{17}[\dXx]|\d{15})"  # 居民身份证号码: 18 characters, or the old 15 digits
    + r"|(?P<mobile>1[3-9]\d[- ]?\d{4}[- ]?\d{4})"  # mobile, maybe grouped 3-4-4
    + r"|(?P<landline>0\d{2,3}-\d{7,8})"  # landline with its area code
    + r")"
    + _EDGE_AFTER
)
# Tried only on text with an "@" in it. Starting only where a run of address characters
# starts keeps a long id free of quadratic backtracking.
_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Fields fengqiao fills itself with ids, codes and times: nothing personal, not scanned.
_OWN_FIELDS: Final = frozenset(
    {
        "event",
        "level",
        "log_level",
        "timestamp",
        "trace_id",
        "dispute_id",
        "notification_id",
        "rpc",
        "policy_version",
        "rule_id",
        "route",
        "from_route",
        "channel",
        "category",
        "status",
        "outcome",
        "stream",
        "service",
    }
)

_KNOWN: ContextVar[tuple[str, ...]] = ContextVar("fengqiao_personal_strings", default=())


def personal_strings(dispute: Dispute) -> tuple[str, ...]:
    """What identifies `dispute`'s parties, longest first (so a name inside a longer
    string is not replaced half way)."""
    found = {dispute.summary.strip(), dispute.location.address.strip()}
    for party in dispute.parties:
        found.update((party.name.strip(), party.phone, party.id_number, party.email))
    return tuple(sorted((s for s in found if len(s) >= 2), key=len, reverse=True))


@contextmanager
def about(dispute: Dispute) -> Iterator[None]:
    """Mask `dispute`'s personal strings in every line logged within."""
    with masking(personal_strings(dispute)):
        yield


@contextmanager
def masking(strings: Iterable[str]) -> Iterator[None]:
    """Mask `strings` (and those masked already) in every line logged within."""
    known = {*_KNOWN.get(), *(s for s in strings if len(s) >= 2)}
    token = _KNOWN.set(tuple(sorted(known, key=len, reverse=True)))
    try:
        yield
    finally:
        _KNOWN.reset(token)


def remember(dispute: Dispute) -> None:
    """Mask `dispute`'s personal strings in the rest of this task (one gRPC call)."""
    _KNOWN.set(personal_strings(dispute))


def _number(match: re.Match[str]) -> str:
    if match.group("mobile"):
        return mask_phone(re.sub(r"[- ]", "", match.group("mobile")))
    return "[id]" if match.group("id") else "[phone]"


def clean(text: str, known: tuple[str, ...] = ()) -> str:
    """`text` with `known` strings and anything that looks like a phone, ID number or
    email address masked."""
    for secret in known:
        if secret in text:
            text = text.replace(secret, NAME_MASK)
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    return _NUMBERS.sub(_number, text)


def _clean_value(value: Any, known: tuple[str, ...], depth: int = 0) -> Any:
    if isinstance(value, str):
        return clean(value, known)
    if depth > 3 or isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {
            k: MASK if k in PERSONAL_FIELDS else _clean_value(v, known, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean_value(v, known, depth + 1) for v in value]
    return clean(str(value), known)


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: the line without personal data. Runs after the exception is
    formatted, so a traceback is cleaned too."""
    known = _KNOWN.get()
    for key, value in event.items():
        if key in _OWN_FIELDS:
            continue
        if key in PERSONAL_FIELDS and value:
            event[key] = MASK
        elif type(value) is str:
            event[key] = clean(value, known)
        elif not isinstance(value, int | float | bool) and value is not None:
            event[key] = _clean_value(value, known)
    return event
