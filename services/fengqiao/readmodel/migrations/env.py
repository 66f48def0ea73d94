"""Alembic's entry point: fengqiao runs migrations itself, on a connection it opened and
locked (`readmodel.database.open_database`), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from fengqiao.readmodel.schema import metadata

connection = context.config.attributes["connection"]
# Batch mode: SQLite alters a table by copying it, which later migrations will need.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
