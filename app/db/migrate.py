"""Alembic, driven from code: upgrade to head and tell whether a database is current."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import migrations
from app.db.connection import Connection

MIGRATIONS_DIR = Path(migrations.__file__).parent
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Stored as an attribute, not an option: ConfigParser would mangle '%' in passwords.
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Run every pending migration. Blocking; safe to call with an event loop running, since
    Alembic's environment runs its own loop in a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(database_url), "heads").result()


def head_revision() -> str:
    """The revision(s) this code needs, as one string ('a+b' while branches are unmerged)."""
    return "+".join(sorted(ScriptDirectory.from_config(alembic_config("")).get_heads()))


async def current_revision(conn: Connection) -> str | None:
    """The database's revision(s) in the same form, or None when it was never migrated.
    Read from Alembic's version table directly: a MigrationContext logs two INFO lines each
    time it is made, and /readyz asks at every probe (issue 28)."""

    def _read(sync_conn: sa.Connection) -> str | None:
        if not sa.inspect(sync_conn).has_table(VERSION_TABLE):
            return None
        heads = sync_conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
        return "+".join(sorted(heads)) or None

    return await conn.run_sync(_read)
