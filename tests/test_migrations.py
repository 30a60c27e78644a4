"""The schema is built by Alembic from nothing, and the migrations agree with the models.

On PostgreSQL each test works in a database of its own, created and dropped here, so that the
suite's shared database is never touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from app.db.migrate import head_revision, upgrade_to_head
from app.db.tables import is_model_object, metadata


def suite_database_url() -> str:
    return os.environ.get("PERDURE_TEST_DATABASE_URL", "").strip() or "sqlite+aiosqlite://"


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "")


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database on the suite's kind of server."""
    suite_url = suite_database_url()
    if suite_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
        return
    name = f"perdure_migr_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sync_url(suite_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(suite_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def schema_differences(url: str) -> list:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": is_model_object}
            )
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            # 'a+b' while migration branches are unmerged, as head_revision() spells it.
            heads = MigrationContext.configure(conn).get_current_heads()
            return "+".join(sorted(heads)) if heads else None
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head(fresh_database_url):
    assert table_names(fresh_database_url) == set()

    upgrade_to_head(fresh_database_url)

    assert current_revision(fresh_database_url) == head_revision()
    assert set(metadata.tables) <= table_names(fresh_database_url)


# SQLite cannot reflect PostgreSQL's words index (an expression); it is compared on PostgreSQL.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_models_agree_with_migrations(fresh_database_url):
    upgrade_to_head(fresh_database_url)

    assert schema_differences(fresh_database_url) == []


def test_upgrading_a_current_database_changes_nothing(fresh_database_url):
    upgrade_to_head(fresh_database_url)
    tables = table_names(fresh_database_url)

    upgrade_to_head(fresh_database_url)

    assert current_revision(fresh_database_url) == head_revision()
    assert table_names(fresh_database_url) == tables
