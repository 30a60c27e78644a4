"""The `perdure` command: dev, serve, migrate, tenant create, rotate-secrets, openapi."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvicorn

from app.settings import DATA_DIR, Environment, Settings

DEV_KEY_FILE = DATA_DIR / "dev-key"


def _say(message: str = "") -> None:
    print(message, flush=True)


async def _schema_problem(settings: Settings) -> str | None:
    """Why this database cannot be served, or None when it is migrated to head."""
    from app.db.database import Database
    from app.db.migrate import current_revision, head_revision

    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.read() as conn:
            revision = await current_revision(conn)
    finally:
        await db.dispose()
    head = head_revision()
    if revision is None:
        return "the database has not been migrated"
    if revision != head:
        return f"the database schema is at revision {revision}, this version needs {head}"
    return None


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from app.db.migrate import head_revision, upgrade_to_head

    _say(f"Migrating {_redacted(settings.database_url)} ...")
    upgrade_to_head(settings.database_url)
    _say(f"Database is at revision {head_revision()} (head). Start the server with: perdure serve")
    return 0


def _secret_key_problem(settings: Settings) -> str | None:
    from app.sealing import Sealer, SecretKeyMissing

    try:
        Sealer.from_settings(settings)
    except SecretKeyMissing as exc:
        return str(exc)
    return None


def _refused(settings: Settings) -> bool:
    """Says why this server cannot run on these settings (no secret key in production, a
    database not migrated) and returns True; False when it can."""
    refused = _secret_key_problem(settings)
    if refused:
        _say(f"perdure: {refused}")
        return True
    problem = asyncio.run(_schema_problem(settings))
    if problem:
        _say(
            f"perdure: {problem}. Run 'perdure migrate' first (PERDURE_DATABASE_URL={_redacted(settings.database_url)})."
        )
        return True
    return False


def cmd_serve(settings: Settings, _: argparse.Namespace) -> int:
    if _refused(settings):
        return 2
    _say(f"Serving on http://{settings.host}:{settings.port} with {settings.workers} worker(s)")
    uvicorn.run(
        "app.asgi:create",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=True,
    )
    return 0


def _dev_secret_key(settings: Settings) -> str:
    """PERDURE_SECRET_KEY, or the one kept beside the development database (made once)."""
    if settings.secret_key:
        return settings.secret_key
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url).database
    folder = Path(database).expanduser().parent if database else DATA_DIR
    path = folder / "secret-key"
    if not path.exists():
        import secrets

        folder.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import upgrade_to_head

    settings = settings.model_copy(
        update={
            "environment": Environment.DEVELOPMENT,
            "port": args.port or settings.port,
            "host": "127.0.0.1",
            "time_skipping": args.time_skipping or settings.time_skipping,
            "secret_key": _dev_secret_key(settings),
        }
    )
    _say(f"Migrating {_redacted(settings.database_url)} ...")
    upgrade_to_head(settings.database_url)
    return asyncio.run(_run_dev(settings))


async def _run_dev(settings: Settings) -> int:
    from app.api.app import create_app
    from app.clock import Clock
    from app.db.database import Database
    from app.devsetup import DEV_NAMESPACE, ensure_dev_tenant

    db = Database(settings.database_url)
    clock = Clock()
    saved = DEV_KEY_FILE.read_text().strip() if DEV_KEY_FILE.exists() else None  # noqa: ASYNC240
    async with db.write() as conn:
        key, created = await ensure_dev_tenant(conn, saved, clock.now())
    await db.dispose()
    if created:
        _save_dev_key(key)

    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    # uvicorn exposes only a flag for "listening"; a short poll at start-up is all it takes.
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if serving.done():
        return 1
    base = f"http://{settings.host}:{settings.port}"
    _say()
    _say(f"Perdure is running at {base} (SQLite, development mode)")
    _say(f"  API key ({'new' if created else 'reused'}, saved in {DEV_KEY_FILE}): {key}")
    _say(f"  Namespace: {DEV_NAMESPACE}")
    _say(f"  Console:   {base}/docs")
    _say(f"  OpenAPI:   {base}/openapi.json")
    _say()
    _say("Try it:")
    _say(f'  curl -s -H "Authorization: Bearer $(cat {DEV_KEY_FILE})" {base}/api/v1/me')
    _say()
    _say("Press Ctrl+C to stop. Data stays in .perdure/ and is reused next time.")
    await serving
    return 0


def _save_dev_key(key: str) -> None:
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEV_KEY_FILE.write_text(key + "\n")
    DEV_KEY_FILE.chmod(0o600)


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    problem = asyncio.run(_schema_problem(settings))
    if problem:
        _say(f"perdure: {problem}. Run 'perdure migrate' first.")
        return 2
    tenant, secret = asyncio.run(_create_tenant(settings, args.name))
    _say(f"Created tenant '{tenant}'. Its admin API key (shown once, store it now):")
    _say(secret)
    return 0


async def _create_tenant(settings: Settings, name: str) -> tuple[str, str]:
    from app.clock import Clock
    from app.db.database import Database
    from app.tenancy.tenants import create_tenant

    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.write() as conn:
            tenant, _, secret = await create_tenant(conn, name, Clock().now())
    finally:
        await db.dispose()
    return tenant.name, secret


def cmd_rotate_secrets(settings: Settings, _: argparse.Namespace) -> int:
    if _refused(settings):
        return 2
    changed = asyncio.run(_reseal(settings))
    _say(
        f"Sealed {changed} webhook endpoint(s) with the current PERDURE_SECRET_KEY; "
        "PERDURE_PREVIOUS_SECRET_KEYS can be emptied once every replica runs with this key."
    )
    return 0


async def _reseal(settings: Settings) -> int:
    from app.api.app import reseal_stored_secrets
    from app.context import ServerContext
    from app.db.database import Database

    ctx = ServerContext(settings=settings, db=Database(settings.database_url, pool_size=1))
    try:
        return await reseal_stored_secrets(ctx)
    finally:
        await ctx.db.dispose()


def cmd_openapi(settings: Settings, args: argparse.Namespace) -> int:
    from app.openapi import render_openapi

    path = Path(args.output)
    path.write_text(render_openapi())
    _say(f"Wrote {path}")
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perdure", description="Perdure durable-execution server")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run locally on SQLite with a ready-made tenant and key")
    dev.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 8233)")
    dev.add_argument(
        "--time-skipping", action="store_true", help="jump to the next deadline when idle"
    )
    dev.set_defaults(run=cmd_dev)

    commands.add_parser("serve", help="run the server (production)").set_defaults(run=cmd_serve)
    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(run=cmd_migrate)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    create = tenant.add_parser("create", help="create a tenant and print its admin key")
    create.add_argument("name")
    create.set_defaults(run=cmd_tenant_create)

    commands.add_parser(
        "rotate-secrets",
        help="seal stored secrets again with PERDURE_SECRET_KEY (after a key rotation)",
    ).set_defaults(run=cmd_rotate_secrets)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", "-o", default="openapi.json")
    openapi.set_defaults(run=cmd_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        _say(f"perdure: invalid settings: {exc}")
        return 2
    try:
        return args.run(settings, args)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
