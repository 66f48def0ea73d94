"""The read model's tables, for queries. The migrations under `migrations/versions/` create
them; a test holds the two together.

Times are whole microseconds since 1970 UTC in BIGINT columns: the same exact value and
ordering in SQLite and PostgreSQL, and cheap to compare. Each dispute row carries, beside
what is filtered, its own contribution to every figure of `domain.stats.Stats` (`n_*`,
0 or a count), computed by `compute_stats` itself when the row is written, so a figure is
a `SUM` over an index range and cannot drift from the in-memory definition.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

metadata: Final = MetaData()

# What each stream's follower has applied, written in the same transaction as the rows.
progress: Final = Table(
    "readmodel_progress",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("applied_seq", BigInteger, nullable=False),
    # When the stream was created: another stream of the same name (a recreated bucket,
    # another server) starts its sequences again, and the rows must be rebuilt.
    Column("stream_created", String(64), nullable=False),
)

# One row: name `version`, the schema and projection version the rows were built with.
meta: Final = Table(
    "readmodel_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Stats fields a row counts itself (`overdue` depends on the time of the query instead).
COUNTED: Final = (
    "received",
    "routed",
    "accepted",
    "accepted_in_time",
    "closed",
    "closed_on_time",
    "agreements",
    "mediation_failures",
    "escalated",
    "followed_up",
    "satisfaction_total",
    "settled_locally",
    "fast_track_closed",
    "fast_track_closed_same_day",
    "fast_track_closed_in_14_working_days",
    "in_progress",
)

_FIGURES: Final = (*(f"n_{name}" for name in COUNTED), "deadline_us")

disputes: Final = Table(
    "disputes",
    metadata,
    Column("id", String(64), primary_key=True),
    # Stream sequence of the revision the row holds: an older one never overwrites it.
    Column("seq", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("district", String(200), nullable=False),
    Column("street", String(200), nullable=False),
    Column("community", String(200), nullable=False),
    Column("grid", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("colour", String(16), nullable=False),
    Column("route", String(32), nullable=False),  # "" before the first decision
    Column("rule_id", String(200), nullable=False),
    Column("step", Integer, nullable=False),
    Column("deadline_us", BigInteger),
    Column("accepted_us", BigInteger),
    Column("closed_us", BigInteger),
    Column("satisfaction", Integer, nullable=False),
    *(Column(f"n_{name}", Integer, nullable=False) for name in COUNTED),
    # The stored bytes of the revision, read with `record_from_bytes`.
    Column("record", LargeBinary, nullable=False),
    # Listing pages newest first within each filter; figures sum a place's period.
    Index("disputes_received", "received_us", "id"),
    # A place's figures are read from these alone (index-only), not from the rows.
    Index("disputes_street_figures", "street", "received_us", "id", *_FIGURES),
    Index("disputes_community_figures", "community", "received_us", "id", *_FIGURES),
    Index("disputes_status", "status", "received_us", "id"),
    Index("disputes_colour", "colour", "received_us", "id"),
    Index("disputes_route", "route", "received_us", "id"),
    Index("disputes_open_deadline", "n_in_progress", "deadline_us"),
    Index("disputes_grid", "grid", "received_us"),
    Index("disputes_category", "category", "received_us"),
    Index("disputes_rule", "rule_id", "received_us"),
    # The board's counts by place and colour (GetBoard), index-only.
    Index("disputes_place_colour", "street", "community", "colour"),
)

notifications: Final = Table(
    "notifications",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("dispute_id", String(64), nullable=False),
    Column("recipient_id", String(300), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    # The stored bytes, read with `convert.decode`.
    Column("data", LargeBinary, nullable=False),
    Index("notifications_recipient", "recipient_id", "created_us", "id"),
    Index("notifications_dispute", "dispute_id", "created_us", "id"),
)

# What became of each notification (`DeliveryOutcomes` on the status stream), the newest
# outcome per notification. A row may come before its notification's (the two streams are
# followed apart) or outlive it; listings join the two.
deliveries: Final = Table(
    "deliveries",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),  # a `DeliveryStatus` number
    Column("via", String(200), nullable=False),  # the channels that carried it, space-separated
    Column("delivered_us", BigInteger),
)
