"""The server's commands: dev, serve, migrate, tenant create, rotate-secrets, openapi — the
`perdure-server` script, which the SDK's `perdure` command (perdure.cli) hands them to."""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from app import __version__
from app.errors import PerdureError
from app.settings import DATA_DIR, Environment, Settings

DEV_KEY_FILE = DATA_DIR / "dev-key"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+psycopg")


class CommandError(Exception):
    """A mistake the user can fix: printed as one line that says what to do, exit status 2."""


def _say(message: str = "") -> None:
    print(message, flush=True)


def _check_database_url(url: str) -> None:
    """Refuse URLs Perdure has no driver for, naming the form it needs."""
    try:
        driver = make_url(url).drivername
    except ArgumentError:
        raise CommandError(
            f"PERDURE_DATABASE_URL is not a database URL ({url!r}); write "
            "sqlite+aiosqlite:///path/to/perdure.db or postgresql+psycopg://user@host:5432/db"
        ) from None
    if driver in SUPPORTED_DRIVERS:
        return
    if driver.split("+")[0] in ("postgres", "postgresql"):
        fixed = "postgresql+psycopg://" + url.split("://", 1)[-1]
        raise CommandError(
            f"PERDURE_DATABASE_URL starts with '{driver}://'; Perdure talks to PostgreSQL "
            f"through psycopg 3: write {_redacted(fixed)}"
        )
    if driver.split("+")[0] == "sqlite":
        raise CommandError(
            f"PERDURE_DATABASE_URL starts with '{driver}://'; write sqlite+aiosqlite:///path"
        )
    raise CommandError(
        f"PERDURE_DATABASE_URL uses '{driver}', which Perdure does not support; use "
        "sqlite+aiosqlite:///path (embedded) or postgresql+psycopg://... (production)"
    )


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"port {port} on {host} is in use by another process: stop it, or choose "
                    "another port with --port (dev) or PERDURE_PORT"
                ) from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _sqlite_file_missing(url: str) -> Path | None:
    """The SQLite file a URL names when it does not exist (opening it would create it)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).expanduser()
    return None if path.exists() else path


async def _schema_problem(settings: Settings) -> str | None:
    """Why this database cannot be served, or None when it is migrated to head."""
    from app.db.database import Database
    from app.db.migrate import current_revision, head_revision

    missing = _sqlite_file_missing(settings.database_url)
    if missing is not None:
        # Opening it would leave an empty database file behind.
        return f"the database file {missing} does not exist"
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

    _check_database_url(settings.database_url)
    _say(f"Migrating {_redacted(settings.database_url)} ...")
    upgrade_to_head(settings.database_url)
    _say(f"Database is at revision {head_revision()} (head). Start the server with: perdure serve")
    return 0


def _check_secret_key(settings: Settings) -> None:
    from app.sealing import Sealer, SecretKeyMissing

    try:
        Sealer.from_settings(settings)
    except SecretKeyMissing as exc:
        raise CommandError(str(exc)) from None


def cmd_serve(settings: Settings, _: argparse.Namespace) -> int:
    _check_database_url(settings.database_url)
    if settings.workers > 1 and settings.is_sqlite:
        raise CommandError(
            f"PERDURE_WORKERS={settings.workers} needs PostgreSQL: an embedded SQLite database "
            "is served by one process (its writer runs in that process); use "
            "PERDURE_WORKERS=1, or PERDURE_DATABASE_URL=postgresql+psycopg://..."
        )
    _check_port_free(settings.host, settings.port)
    problem = asyncio.run(_schema_problem(settings))
    if problem:
        _say(
            f"perdure: {problem}. Run 'perdure migrate' first (PERDURE_DATABASE_URL={_redacted(settings.database_url)})."
        )
        return 2
    _check_secret_key(settings)
    if settings.workers > 1:
        _prepare_multiprocess_metrics()
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


def _prepare_multiprocess_metrics() -> None:
    """Several worker processes: prometheus-client keeps each one's metrics in files of a
    shared directory, and /metrics in any process sums them."""
    import os
    import tempfile

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="perdure-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # inherited by the workers
    for stale in Path(directory).glob("*.db"):  # counts of an earlier run
        stale.unlink()


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
    _check_database_url(settings.database_url)
    _hold_dev_lock(settings)
    _check_port_free(settings.host, settings.port)
    _say(f"Migrating {_redacted(settings.database_url)} ...")
    upgrade_to_head(settings.database_url)
    return asyncio.run(_run_dev(settings, args.search_attribute))


def _search_attribute(text: str) -> tuple[str, str]:
    """`Name=Type` of `perdure dev --search-attribute` (Temporal's start-dev flag)."""
    name, equals, kind = text.partition("=")
    if not equals or not name.strip() or not kind.strip():
        raise argparse.ArgumentTypeError(
            f"expected Name=Type (e.g. CustomerId=Keyword), got {text!r}"
        )
    return name.strip(), kind.strip()


_dev_lock: Any = None  # the open lock file, held for the life of `perdure dev`


def _hold_dev_lock(settings: Settings) -> None:
    """One `perdure dev` per data folder: a second one would share its SQLite file and key
    silently. An exclusive lock on `<folder>/dev.lock` (released by the system when the
    process ends, even by SIGKILL) whose text names the holder for the refusal."""
    import fcntl
    import os

    global _dev_lock
    database = make_url(settings.database_url).database
    folder = Path(database).expanduser().parent if database else DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / "dev.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise CommandError(
            f"'perdure dev' is already running in {folder} ({holder}); stop it, or run this "
            "one in another folder"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}, http://{settings.host}:{settings.port}")
    lock.flush()
    _dev_lock = lock


async def _run_dev(settings: Settings, search_attributes: list[tuple[str, str]]) -> int:
    from app.clock import Clock
    from app.db.database import Database
    from app.devsetup import DEV_NAMESPACE, ensure_dev_tenant, register_dev_search_attributes
    from app.observability.logs import configure_logging
    from app.server import create_server

    db = Database(settings.database_url)
    clock = Clock()
    saved = DEV_KEY_FILE.read_text().strip() if DEV_KEY_FILE.exists() else None  # noqa: ASYNC240
    async with db.write() as conn:
        key, created = await ensure_dev_tenant(conn, saved, clock.now())
        await register_dev_search_attributes(conn, dict(search_attributes), clock.now())
    await db.dispose()
    if created:
        _save_dev_key(key)

    app = create_server(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
    )
    configure_logging(settings)  # after uvicorn's Config, which sets up its own
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
    _say(f"  Console:   {base}/console  (sign in with the API key above)")
    _say(f"  API docs:  {base}/docs")
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
    _check_database_url(settings.database_url)
    problem = asyncio.run(_schema_problem(settings))
    if problem:
        _say(f"perdure: {problem}. Run 'perdure migrate' first.")
        return 2
    tenant, secret = asyncio.run(_create_tenant(settings, args.name))
    _say(f"Created tenant '{tenant}' with the namespace 'default'.")
    _say("Its admin API key (shown once, store it now):")
    _say(secret)
    _say("Next: send it as 'Authorization: Bearer <key>' to /api/v1/namespaces/default/...")
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
    _check_database_url(settings.database_url)
    _check_secret_key(settings)
    problem = asyncio.run(_schema_problem(settings))
    if problem:
        _say(f"perdure: {problem}. Run 'perdure migrate' first.")
        return 2
    changed = asyncio.run(_reseal(settings))
    _say(
        f"Sealed {changed} webhook endpoint(s) with the current PERDURE_SECRET_KEY; "
        "PERDURE_PREVIOUS_SECRET_KEYS can be emptied once every replica runs with this key."
    )
    return 0


async def _reseal(settings: Settings) -> int:
    from app.context import ServerContext
    from app.db.database import Database
    from app.server import reseal_stored_secrets

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


# The settings each command reads, listed in its --help: `serve` reads every one.
SERVE_SETTINGS = tuple(Settings.model_fields)
MIGRATE_SETTINGS = ("database_url", "database_password")
# Secrets have no default worth printing, and a value set in the environment is never shown.
_SECRET = {
    "admin_token",
    "secret_key",
    "previous_secret_keys",
    "database_password",
    "metrics_token",
    "oidc_client_secret",
}


def _default_text(name: str) -> str:
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    if name in _SECRET or default is None or default == []:
        return "unset"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, StrEnum):
        return default.value
    return str(default)


def _settings_help(names: tuple[str, ...]) -> str:
    """Each setting as `PERDURE_NAME  default X. What it does.` (the real default: unset for
    none, a computed one described in its text)."""
    lines = ["settings (environment variables):"]
    for name in names:
        field = Settings.model_fields.get(name)
        if field is None:
            continue
        about = f" {field.description}" if field.description else ""
        lines.append(f"  PERDURE_{name.upper():<36} default {_default_text(name)}.{about}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perdure", description="Perdure durable-execution server")
    parser.add_argument("--version", action="version", version=f"perdure {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run locally on SQLite with a ready-made tenant and key")
    dev.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 8233)")
    dev.add_argument(
        "--time-skipping", action="store_true", help="jump to the next deadline when idle"
    )
    dev.add_argument(
        "--search-attribute",
        action="append",
        type=_search_attribute,
        default=[],
        metavar="NAME=TYPE",
        help="register a custom search attribute in the dev namespace (repeatable; types "
        "Keyword, Text, Int, Double, Bool, Datetime, KeywordList)",
    )
    dev.set_defaults(run=cmd_dev)

    commands.add_parser(
        "serve",
        help="run the server (production)",
        description="Serve the API and, unless PERDURE_RUN_BACKGROUND_LOOPS=false, the "
        "background loops, on a database migrated with 'perdure migrate'.",
        epilog=_settings_help(SERVE_SETTINGS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(run=cmd_serve)
    commands.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Upgrade the database to the schema this version needs (safe to repeat).",
        epilog=_settings_help(MIGRATE_SETTINGS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).set_defaults(run=cmd_migrate)

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
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        detail = "; ".join(
            f"PERDURE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in errors
        )
        _say(f"perdure: invalid settings: {detail or exc}")
        return 2
    try:
        return args.run(settings, args)
    except KeyboardInterrupt:
        return 0
    except CommandError as exc:
        _say(f"perdure: {exc}")
    except PerdureError as exc:
        _say(f"perdure: {exc.detail}")
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _say(
            f"perdure: cannot use the database {_redacted(settings.database_url)}: {reason}. "
            "Check PERDURE_DATABASE_URL (host, port, user, password, database)."
        )
    return 2


if __name__ == "__main__":
    sys.exit(main())
