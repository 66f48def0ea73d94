"""The read model: disputes and notifications projected from their KV buckets (and the
notifications' delivery statuses from theirs) into SQL
(SQLite by default, PostgreSQL when configured), for listings, figures and reports."""

from fengqiao.domain.errors import DatabaseError
from fengqiao.readmodel.apply import DELIVERIES, DISPUTES, NOTIFICATIONS
from fengqiao.readmodel.model import ReadModel, open_engine
from fengqiao.readmodel.queries import DisputeFilter

__all__ = [
    "DELIVERIES",
    "DISPUTES",
    "NOTIFICATIONS",
    "DatabaseError",
    "DisputeFilter",
    "ReadModel",
    "open_engine",
]
