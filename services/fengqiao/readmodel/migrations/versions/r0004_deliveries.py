"""What became of each notification, in a table of its own.

The delivery worker no longer rewrites each stored notification with its outcome; it
publishes outcomes in batches (stream NOTIFY_STATUS), which notification's read model
writes here and ListNotifications joins to the notifications.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("via", sa.String(200), nullable=False),
        sa.Column("delivered_us", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
