"""The one error vocabulary. Every error fengqiao raises on purpose is one of these, and
each says whether trying again can help (`permanent`). The gRPC boundary
(`platform/grpc_errors.py`) turns them into status codes; the bus consumer
(`platform/consume.py`) settles a message by them: `term` if permanent, else `nak` with a
delay. The command line prints a `Misconfigured` and exits non-zero.

    FengqiaoError
    ├── InvalidArgument      permanent  INVALID_ARGUMENT, with field violations
    ├── Unreadable           permanent  bytes that are not the message they should be
    ├── NotFound             permanent  NOT_FOUND
    ├── AlreadyExists        permanent  ALREADY_EXISTS
    ├── FailedPrecondition   permanent  FAILED_PRECONDITION: not in this state
    ├── RejectMessage        permanent  a bus message no handler can ever take
    ├── Unavailable          retry      UNAVAILABLE with RetryInfo: behind or away for now
    │   ├── Retry            retry      the handler chose the delay
    │   ├── DeliveryFailed   retry      a channel's receiver did not take a message
    │   ├── WriteConflicts   retry      a key kept losing its compare-and-set
    │   └── Rewound          retry      the read model's rows went back: follow again
    └── Misconfigured        permanent  the process cannot start as configured
        ├── SettingsError               a FENGQIAO_* value
        ├── PolicyError                 the rules or directory file (fengqiao.policy.problems,
        │                               beside the problems it lists)
        ├── SampleError                 a sample dispute file
        ├── DatabaseError               the read model's database
        ├── NatsConnectError            NATS unreachable or refusing this service
        └── EmbeddedNatsError           the embedded nats-server of `up`/`demo`

NATS's own errors while the bus is away are not wrapped; the boundaries name them
(`platform/bus.BUS_UNAVAILABLE`) and treat them as `Unavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


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

    # True: the same request or message fails the same way however often it is tried.
    permanent: ClassVar[bool] = True


class InvalidArgument(FengqiaoError):
    """The request itself is wrong; retrying it unchanged will fail again."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = tuple(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(f"invalid request: {fields}")


class Unreadable(FengqiaoError, ValueError):
    """Bytes that are neither binary protobuf nor protobuf JSON of the expected message.
    Reading them again gives the same answer: a message carrying them is rejected."""


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


class RejectMessage(FengqiaoError):
    """The message can never be handled; retrying is pointless."""


class Unavailable(FengqiaoError):
    """Something fengqiao depends on is behind or away for now; retrying later can help,
    after about `retry_after_seconds`."""

    permanent = False

    def __init__(self, message: str, retry_after_seconds: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Retry(Unavailable):
    """Try this message again after `delay` seconds (the handler chose the delay)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f}s", retry_after_seconds=delay)
        self.delay = delay


class DeliveryFailed(Unavailable):
    """The channel did not take the notification; worth trying again later."""


class WriteConflicts(Unavailable):
    """A key lost its compare-and-set too many times in a row to other writers."""


class Rewound(Unavailable):
    """The database holds less than the follower resumed after (it was reset by a rebuild):
    the follower must start again from what the database holds."""


class Misconfigured(FengqiaoError):
    """The process cannot start as configured; the message says what to change."""


class SettingsError(Misconfigured, ValueError):
    """A `FENGQIAO_*` variable has a value fengqiao cannot use."""


class SampleError(Misconfigured, ValueError):
    """A sample dispute file cannot be read as a submission."""


class DatabaseError(Misconfigured):
    """The read model's database cannot be opened or used; the message says what to do."""


class NatsConnectError(Misconfigured):
    """NATS could not be reached or refused this service; the message says what to check."""


class EmbeddedNatsError(Misconfigured):
    """The embedded nats-server could not be found or started."""
