"""Pure domain values, vocabularies, validation and errors. No I/O."""

from fengqiao.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FengqiaoError,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from fengqiao.domain.kinds import EventKind
from fengqiao.domain.model import (
    CaseEvent,
    Colour,
    Decision,
    Dispute,
    DisputeRecord,
    Location,
    Notification,
    Party,
    PolicyContext,
    Priority,
    Route,
    Status,
    StepContext,
    TimelineEntry,
)

__all__ = [
    "AlreadyExists",
    "CaseEvent",
    "Colour",
    "Decision",
    "Dispute",
    "DisputeRecord",
    "EventKind",
    "FailedPrecondition",
    "FengqiaoError",
    "FieldViolation",
    "InvalidArgument",
    "Location",
    "NotFound",
    "Notification",
    "Party",
    "PolicyContext",
    "Priority",
    "Route",
    "Status",
    "StepContext",
    "TimelineEntry",
]
