"""An API key's secret is shown once, at creation, and the database keeps only its hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.conftest import keyed_client
from tests.tenancy_helpers import create_key


@pytest.fixture
def sync_engine(server) -> Iterator[sa.Engine]:
    """A plain synchronous engine on the suite's database, to look at what is really stored."""
    engine = sa.create_engine(server.database_url.replace("+aiosqlite", ""))
    yield engine
    engine.dispose()


async def test_creation_returns_the_secret_once(tenant):
    made = await create_key(tenant.client, "reader")

    assert made["key"].startswith("pdk_")
    assert made["key"].startswith(made["key_prefix"])
    assert len(made["key"]) > len(made["key_prefix"]) + 20


async def test_describe_never_returns_the_secret(tenant):
    made = await create_key(tenant.client, "reader")

    described = await tenant.client.get(f"/api/v1/api-keys/{made['id']}")

    assert described.status_code == 200
    assert "key" not in described.json()
    assert made["key"] not in described.text


async def test_list_never_returns_a_secret(tenant):
    made = await create_key(tenant.client, "reader")

    listed = await tenant.client.get("/api/v1/api-keys")

    assert listed.status_code == 200
    assert all("key" not in k for k in listed.json()["api_keys"])
    assert made["key"] not in listed.text
    assert tenant.admin_key not in listed.text


async def test_revoke_never_returns_the_secret(tenant):
    made = await create_key(tenant.client, "reader")

    revoked = await tenant.client.post(f"/api/v1/api-keys/{made['id']}/revoke")

    assert revoked.status_code == 200
    assert "key" not in revoked.json()
    assert made["key"] not in revoked.text


async def test_me_never_returns_the_secret(tenant):
    made = await create_key(tenant.client, "reader")

    async with keyed_client(tenant.client, made["key"]) as client:
        me = await client.get("/api/v1/me")

    assert me.status_code == 200
    assert "key" not in me.json()
    assert made["key"] not in me.text


async def test_database_stores_only_the_hash_of_the_secret(tenant, sync_engine):
    made = await create_key(tenant.client, "reader")

    with sync_engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM api_keys WHERE id = :id"), {"id": made["id"]})
        stored = row.mappings().one()

    assert stored["key_hash"] == hashlib.sha256(made["key"].encode()).hexdigest()
    for column, value in stored.items():
        assert made["key"] not in str(value), f"api_keys.{column} holds the secret"


async def test_no_table_holds_a_clear_secret(tenant, sync_engine):
    made = await create_key(tenant.client, "worker")
    secrets_in_clear = (made["key"], tenant.admin_key)

    with sync_engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                for value in row:
                    assert not any(s in str(value) for s in secrets_in_clear), table
