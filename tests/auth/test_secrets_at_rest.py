"""Webhook signing secrets and credential header values are sealed at rest with
PERDURE_SECRET_KEY; a new key takes over from an old one; the SQLite file is its owner's."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from app.cli import cmd_rotate_secrets
from app.db.tables import webhook_endpoints
from app.sealing import Sealer, SecretKeyMissing
from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, fresh_database, new_tenant, serve_app

SECRET = "whsec_" + "c2VhbGVkLXNlY3JldC1mb3ItdGhlLXRlc3Qtb25seQ=="
TOKEN = "bearer-credential-value-42"
OLD_KEY = "old-secret-key-0123456789-0123456789-abcdef"
NEW_KEY = "new-secret-key-9876543210-9876543210-fedcba"


def settings(url: str, key: str, previous: list[str] | None = None) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        secret_key=key,
        previous_secret_keys=previous or [],
        run_background_loops=False,
    )


async def make_webhook(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        tenant = await new_tenant(http)
        made = await tenant.client.post(
            tenant.ns("/webhooks"),
            json={
                "name": "hook",
                "url": "https://hooks.example.com/in",
                "task_queues": ["q"],
                "secret": SECRET,
                "headers": {"Authorization": f"Bearer {TOKEN}", "X-Team": "billing"},
            },
        )
        assert made.status_code == 201, made.text
        await tenant.client.aclose()


def stored(url: str) -> sa.Row:
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(webhook_endpoints)).one()
    finally:
        engine.dispose()


def database_bytes(url: str) -> bytes:
    """Everything SQLite wrote: the file and its write-ahead log."""
    path = Path(sa.engine.make_url(url).database or "")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_secrets_and_credential_headers_are_unreadable_in_the_database(database_url):
    with fresh_database(database_url) as url:
        async with serve_app(settings(url, OLD_KEY)) as running:
            await make_webhook(running.base_url)
            row = stored(url)
            written = database_bytes(url) if url.startswith("sqlite") else b""

        text = repr(tuple(row))
        assert SECRET not in text and SECRET.removeprefix("whsec_") not in text
        assert TOKEN not in text
        assert row.headers["X-Team"] == "billing"  # not a credential: kept as given
        assert Sealer(OLD_KEY).open(row.secret) == SECRET
        assert SECRET.removeprefix("whsec_").encode() not in written
        assert TOKEN.encode() not in written


async def test_a_new_key_takes_over_from_the_old_one(database_url):
    with fresh_database(database_url) as url:
        async with serve_app(settings(url, OLD_KEY)) as running:
            await make_webhook(running.base_url)
        sealed_by_old = stored(url)

        # `perdure rotate-secrets`, run as the command runs (its own event loop).
        rotated = await asyncio.to_thread(
            cmd_rotate_secrets, settings(url, NEW_KEY, [OLD_KEY]), argparse.Namespace()
        )

        sealed_by_new = stored(url)
        assert rotated == 0
        assert sealed_by_new.secret != sealed_by_old.secret
        assert Sealer(NEW_KEY).open(sealed_by_new.secret) == SECRET
        assert Sealer(NEW_KEY).open(sealed_by_new.headers["Authorization"]) == f"Bearer {TOKEN}"
        with pytest.raises(RuntimeError) as refused:
            Sealer(OLD_KEY).open(sealed_by_new.secret)
        assert isinstance(refused.value.__cause__, InvalidToken)


async def test_a_server_started_with_a_new_key_seals_again_what_the_old_one_sealed(database_url):
    with fresh_database(database_url) as url:
        async with serve_app(settings(url, OLD_KEY)) as running:
            await make_webhook(running.base_url)

        async with serve_app(settings(url, NEW_KEY, [OLD_KEY])):
            pass

        assert Sealer(NEW_KEY).open(stored(url).secret) == SECRET


def test_production_refuses_to_run_without_a_secret_key():
    with pytest.raises(SecretKeyMissing, match="PERDURE_SECRET_KEY"):
        Sealer.from_settings(Settings(environment=Environment.PRODUCTION, secret_key=None))


def test_a_new_sqlite_database_file_is_readable_by_its_owner_only(tmp_path):
    from app.db.database import Database

    Database(f"sqlite+aiosqlite:///{tmp_path}/private.db")

    assert (tmp_path / "private.db").stat().st_mode & 0o077 == 0
