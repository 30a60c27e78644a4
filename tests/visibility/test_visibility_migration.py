"""Migration 0011: search attributes stored before types existed are registered with the type
their values have, and filter as before."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from alembic import command

from app.auth.keys import display_prefix, hash_api_key, new_api_key
from app.db.migrate import alembic_config, upgrade_to_head
from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, serve_app

OLD_VALUES = {
    "run-a": {"Tier": "gold", "Score": 7, "Ratio": 0.5, "Vip": True, "Tags": ["x", "y"]},
    "run-b": {"Tier": "silver", "Score": 9, "Ratio": 2, "Vip": False, "Mixed": "text"},
    "run-c": {"Mixed": 3, "WorkflowType": "shadow"},
}
RUN_COLUMNS = (
    "id, namespace_id, workflow_id, workflow_type, task_queue, status, search_attributes, "
    "start_time, execution_time, task_timeout, first_run_id, next_event_id, history_bytes, "
    "wft_state, wft_attempt, last_completed_started_event_id, buffered_events, "
    "cancel_requested, signal_count, decider, attempt"
)


@contextmanager
def empty_database(suite_url: str) -> Iterator[str]:
    if suite_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/old.db"
        return
    name = f"perdure_old_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(suite_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.engine.make_url(suite_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def seed_at_0008(url: str) -> str:
    """A database at revision 0008 with untyped attributes; returns an admin key."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), "0008").result()
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    now = datetime.now(UTC).replace(tzinfo=None)
    key = new_api_key()
    with engine.begin() as conn:
        run = conn.execute
        run(sa.text("INSERT INTO tenants VALUES ('t', 'old', :now)"), {"now": now})
        run(
            sa.text(
                "INSERT INTO namespaces (id, tenant_id, name, description, retention_days, "
                "settings, created_at, updated_at) VALUES ('n', 't', 'main', '', 30, '{}', :t, :t)"
            ),
            {"t": now},
        )
        run(
            sa.text(
                "INSERT INTO api_keys (id, tenant_id, name, role, key_hash, key_prefix, "
                "created_at) VALUES ('k', 't', 'admin', 'admin', :h, :p, :t)"
            ),
            {"h": hash_api_key(key), "p": display_prefix(key), "t": now},
        )
        for n, (run_id, values) in enumerate(OLD_VALUES.items()):
            run(
                sa.text(
                    f"INSERT INTO workflow_runs ({RUN_COLUMNS}) VALUES (:id, 'n', :id, 'Old', "
                    "'q', 'COMPLETED', :sa, :t, :t, 10, :id, 1, 0, 'none', 1, 0, 0, false, 0, "
                    "'queue', 1)"
                ),
                {"id": run_id, "sa": json.dumps(values), "t": now.replace(microsecond=n)},
            )
            for name, value in values.items():
                run(
                    sa.text(
                        "INSERT INTO workflow_search_attributes (run_id, name, namespace_id, "
                        "value) VALUES (:r, :n, 'n', :v)"
                    ),
                    {"r": run_id, "n": name, "v": json.dumps(value, separators=(",", ":"))},
                )
    engine.dispose()
    return key


async def test_untyped_attributes_get_the_type_of_their_values_and_still_filter(database_url):
    with empty_database(database_url) as url:
        key = seed_at_0008(url)
        upgrade_to_head(url)
        settings = Settings(
            database_url=url, admin_token=ADMIN_TOKEN, environment=Environment.DEVELOPMENT
        )
        async with serve_app(settings) as server:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}
            ) as client:
                ns = "/api/v1/namespaces/main"
                types = (await client.get(f"{ns}/search-attributes")).json()

                async def ids(query: str) -> list[str]:
                    r = await client.get(f"{ns}/workflows", params={"query": query})
                    assert r.status_code == 200, r.text
                    return sorted(w["workflow_id"] for w in r.json()["workflows"])

                assert (
                    types["custom_attributes"]
                    == {
                        "Tier": "Keyword",
                        "Score": "Int",
                        "Ratio": "Double",
                        "Vip": "Bool",
                        "Tags": "KeywordList",
                        "Mixed": "Keyword",
                    }
                    | {}
                )
                assert await ids("Tier = 'gold'") == ["run-a"]
                assert await ids("Score > 8") == ["run-b"]
                assert await ids("Ratio >= 1") == ["run-b"]
                assert await ids("Vip = true") == ["run-a"]
                assert await ids("Tags = 'y'") == ["run-a"]
                assert await ids("Mixed = '3'") == ["run-c"]
                # A system name was never a custom attribute: not indexed, still described.
                assert await ids("WorkflowType = 'shadow'") == []
                described = (await client.get(f"{ns}/workflows/run-c")).json()
                assert described["search_attributes"] == {"Mixed": 3, "WorkflowType": "shadow"}
