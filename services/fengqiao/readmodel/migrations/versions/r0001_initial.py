"""The read model's first tables: progress, version, disputes, notifications.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_COUNTED = (
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


def upgrade() -> None:
    op.create_table(
        "readmodel_progress",
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        sa.Column("stream_created", sa.String(64), nullable=False),
    )
    op.create_table(
        "readmodel_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("district", sa.String(200), nullable=False),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column("community", sa.String(200), nullable=False),
        sa.Column("grid", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("colour", sa.String(16), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("deadline_us", sa.BigInteger),
        sa.Column("accepted_us", sa.BigInteger),
        sa.Column("closed_us", sa.BigInteger),
        sa.Column("satisfaction", sa.Integer, nullable=False),
        *(sa.Column(f"n_{name}", sa.Integer, nullable=False) for name in _COUNTED),
        sa.Column("record", sa.LargeBinary, nullable=False),
    )
    for name, columns in (
        ("disputes_received", ["received_us", "id"]),
        ("disputes_street", ["street", "received_us", "id"]),
        ("disputes_community", ["community", "received_us", "id"]),
        ("disputes_status", ["status", "received_us", "id"]),
        ("disputes_colour", ["colour", "received_us", "id"]),
        ("disputes_route", ["route", "received_us", "id"]),
        ("disputes_open_deadline", ["n_in_progress", "deadline_us"]),
        ("disputes_grid", ["grid", "received_us"]),
        ("disputes_category", ["category", "received_us"]),
        ("disputes_rule", ["rule_id", "received_us"]),
    ):
        op.create_index(name, "disputes", columns)
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("dispute_id", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.String(300), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "notifications_recipient", "notifications", ["recipient_id", "created_us", "id"]
    )
    op.create_index("notifications_dispute", "notifications", ["dispute_id", "created_us", "id"])


def downgrade() -> None:
    for table in ("notifications", "disputes", "readmodel_meta", "readmodel_progress"):
        op.drop_table(table)
