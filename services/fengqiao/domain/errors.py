"""The one error vocabulary. Services raise these; the gRPC interceptor maps them to
status codes, and bus consumers map them to ack / nak / term."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One thing wrong with one field; `field` is the proto path, e.g. `dispute.amount_fen`."""

    field: str
    description: str


class FengqiaoError(Exception):
    """Base of every error fengqiao raises on purpose."""


class InvalidArgument(FengqiaoError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(f"invalid request: {fields}")


class NotFound(FengqiaoError):
    pass


class AlreadyExists(FengqiaoError):
    pass


class FailedPrecondition(FengqiaoError):
    pass


class Unavailable(FengqiaoError):
    """Something fengqiao depends on is behind or away for now; retrying later can help,
    after about `retry_after_seconds`."""

    def __init__(self, message: str, retry_after_seconds: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
