"""The one error vocabulary. Services raise these; the gRPC interceptor maps them to
status codes, and bus consumers map them to ack / nak / term."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One thing wrong with one field; `field` is the proto path, e.g. `dispute.amount_fen`."""

    field: str
    description: str


# How much of a wrong value a problem quotes: enough to recognise it, never so much that
# the allowed values after it are cut from the error (`fengqiao vocab` lists them too).
_QUOTED = 40


def quoted(value: str) -> str:
    """`value` as a problem quotes it: repr, at most `_QUOTED` characters of it."""
    return repr(value if len(value) <= _QUOTED else value[: _QUOTED - 1] + "…")


class FengqiaoError(Exception):
    """Base of every error fengqiao raises on purpose."""


class InvalidArgument(FengqiaoError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(f"invalid request: {fields}")


class NotFound(FengqiaoError):
    """No such thing: `resource_type` (`dispute`, `notification` …) named `resource_name`."""

    def __init__(self, message: str, resource_type: str = "", resource_name: str = "") -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.resource_name = resource_name


class AlreadyExists(FengqiaoError):
    """The id is taken by something else: `resource_type` named `resource_name`."""

    def __init__(self, message: str, resource_type: str = "", resource_name: str = "") -> None:
        super().__init__(message)
        self.resource_type = resource_type
        self.resource_name = resource_name


class FailedPrecondition(FengqiaoError):
    """Not possible in the current state of `subject`; `kind` says which state (`STATUS`,
    `ANONYMISED` …), as `google.rpc.PreconditionFailure` types do."""

    def __init__(self, message: str, kind: str = "STATE", subject: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.subject = subject


class Unavailable(FengqiaoError):
    """Something fengqiao depends on is behind or away for now; retrying later can help,
    after about `retry_after_seconds`."""

    def __init__(self, message: str, retry_after_seconds: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
