"""The migrations build exactly the tables and indexes `readmodel/schema.py` declares, on
SQLite and on PostgreSQL, so the queries written against one run on the other."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fengqiao.readmodel.database import create, migrate
from fengqiao.readmodel.schema import metadata


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_build_what_the_schema_declares(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'readmodel.sqlite3'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create(url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []
