"""The board's colour counts come from an index alone.

GetBoard counts disputes by (street, community, colour): with this index the count is an
index-only scan in that order, not a read of every row and its stored record.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("disputes_place_colour", "disputes", ["street", "community", "colour"])


def downgrade() -> None:
    op.drop_index("disputes_place_colour", "disputes")
