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


def test_sqlites_planner_statistics_survive_every_migration(fresh_database_url):
    """Migration 0011 seeds SQLite's planner statistics (sqlite_stat1) so that list filters take
    their indexes; a later migration that copies a table (Alembic's batch mode) loses them,
    and the planner then scans a namespace's whole start-time index instead."""
    if not fresh_database_url.startswith("sqlite"):
        pytest.skip("planner statistics are seeded on SQLite only")
    import importlib

    seeded = importlib.import_module("migrations.versions.0011_visibility").SQLITE_STATISTICS
    upgrade_to_head(fresh_database_url)

    engine = sa.create_engine(fresh_database_url.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        present = {
            (table, index)
            for table, index in conn.exec_driver_sql("SELECT tbl, idx FROM sqlite_stat1")
        }
        indexes_now = {
            (table, index)
            for index, table in conn.exec_driver_sql(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
            )
        }
    engine.dispose()
    # Indexes a later migration dropped on purpose have no statistics to keep.
    expected = {
        (table, index) for table, indexes in seeded.items() for index in indexes
    } & indexes_now
    assert expected <= present, f"statistics lost: {sorted(expected - present)}"
