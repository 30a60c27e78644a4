"""Stored definitions: immutable numbered versions per name in a namespace, the run pins,
and what a namespace deletion must remove."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.hot import hot
from app.db.tables import definition_aliases, definition_runs, definitions, workflow_runs
from app.definitions.validation import problems
from app.engine.events import RunStatus
from app.errors import FailedPrecondition, InvalidArgument, NotFound, PayloadTooLarge
from app.ids import new_id
from app.pagination import decode_token, encode_token

LANGUAGE = "asl"
MAX_DOCUMENT_BYTES = 1024 * 1024
COLUMNS = (
    definitions.c.id,
    definitions.c.name,
    definitions.c.version,
    definitions.c.language,
    definitions.c.document,
    definitions.c.digest,
    definitions.c.created_at,
)


def canonical(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def as_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "language": row.language,
        "digest": row.digest,
        "created_at": row.created_at,
        "definition": orjson.loads(row.document),
    }


def check(document: Any) -> None:
    found = problems(document)
    if found:
        raise InvalidArgument(
            f"the definition has {len(found)} problem(s)", errors=found, field="definition"
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked document in its stored form: canonical JSON text and its SHA-256."""

    text: str
    digest: str


def prepare(document: Any) -> Prepared:
    """Validate and canonicalise (CPU only, no database: callers may run it off the loop)."""
    check(document)
    text = canonical(document)
    if len(text) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(
            f"a definition has at most {MAX_DOCUMENT_BYTES} bytes as canonical JSON",
            field="definition",
            limit=MAX_DOCUMENT_BYTES,
        )
    return Prepared(text, hashlib.sha256(text.encode()).hexdigest())


async def put(
    conn: Connection,
    namespace_id: str,
    name: str,
    document: Any | Prepared,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """A new version, or the latest unchanged when it is identical; (row, created)."""
    prepared = document if isinstance(document, Prepared) else prepare(document)
    text, digest = prepared.text, prepared.digest
    latest = await _latest(conn, namespace_id, name)
    if latest is not None and latest.digest == digest:
        return as_dict(latest), False
    row = {
        "id": new_id(),
        "namespace_id": namespace_id,
        "name": name,
        "version": (latest.version if latest is not None else 0) + 1,
        "language": LANGUAGE,
        "document": text,
        "digest": digest,
        "created_at": now,
    }
    await conn.execute(sa.insert(definitions).values(row))
    return as_dict(SimpleNamespace(**row)), True


LATEST = hot(
    sa.select(*COLUMNS)
    .where(
        definitions.c.namespace_id == sa.bindparam("namespace_id"),
        definitions.c.name == sa.bindparam("name"),
    )
    .order_by(definitions.c.version.desc())
    .limit(1)
)
VERSION = hot(
    sa.select(*COLUMNS).where(
        definitions.c.namespace_id == sa.bindparam("namespace_id"),
        definitions.c.name == sa.bindparam("name"),
        definitions.c.version == sa.bindparam("version"),
    )
)
# Versions never change: each document is parsed once per process (by version id).
MAX_PARSED = 1_000
_parsed: OrderedDict[str, dict[str, Any]] = OrderedDict()


def document_of(definition_id: str, text: str) -> dict[str, Any]:
    """The parsed document of a version. Shared: callers must not change it."""
    document = _parsed.get(definition_id)
    if document is None:
        document = _parsed[definition_id] = orjson.loads(text)
        if len(_parsed) > MAX_PARSED:
            _parsed.popitem(last=False)
    return document


async def _latest(conn: Connection, namespace_id: str, name: str) -> Any:
    return (await conn.execute(LATEST, {"namespace_id": namespace_id, "name": name})).one_or_none()


async def version_row(
    conn: Connection, namespace_id: str, name: str, version: int | None = None
) -> Any:
    """The row of a version (latest unless one is named); NotFound when there is none."""
    if version is None:
        row = await _latest(conn, namespace_id, name)
    else:
        row = (
            await conn.execute(
                VERSION, {"namespace_id": namespace_id, "name": name, "version": version}
            )
        ).one_or_none()
    if row is None:
        which = f"version {version} of definition" if version is not None else "definition"
        raise NotFound(f"{which} '{name}' not found", definition=name)
    return row


async def get(
    conn: Connection, namespace_id: str, name: str, version: int | None = None
) -> dict[str, Any]:
    return as_dict(await version_row(conn, namespace_id, name, version))


async def list_latest(
    conn: Connection, namespace_id: str, page_size: int, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The latest version of each name, by name."""
    newest = (
        sa.select(definitions.c.name, sa.func.max(definitions.c.version).label("version"))
        .where(definitions.c.namespace_id == namespace_id)
        .group_by(definitions.c.name)
        .subquery()
    )
    query = (
        sa.select(*COLUMNS)
        .join(
            newest,
            sa.and_(newest.c.name == definitions.c.name, newest.c.version == definitions.c.version),
        )
        .where(definitions.c.namespace_id == namespace_id)
        .order_by(definitions.c.name)
        .limit(page_size + 1)
    )
    after = decode_token(page_token, length=1)
    if after is not None:
        query = query.where(definitions.c.name > str(after[0]))
    rows = (await conn.execute(query)).all()
    token = encode_token([rows[page_size - 1].name]) if len(rows) > page_size else None
    return [as_dict(r) for r in rows[:page_size]], token


async def open_runs(conn: Connection, namespace_id: str, name: str) -> int:
    return int(
        await conn.scalar(
            sa.select(sa.func.count())
            .select_from(
                definition_runs.join(workflow_runs, workflow_runs.c.id == definition_runs.c.run_id)
            )
            .where(
                definition_runs.c.namespace_id == namespace_id,
                definition_runs.c.name == name,
                workflow_runs.c.status == RunStatus.RUNNING.value,
            )
        )
        or 0
    )


async def delete(conn: Connection, namespace_id: str, name: str) -> None:
    """Every version of the name; refused while runs of it are open, and while aliases route
    to its versions (AWS refuses to delete a version an alias routes to)."""
    await get(conn, namespace_id, name)
    routed = list(
        (
            await conn.execute(
                sa.select(definition_aliases.c.alias)
                .where(
                    definition_aliases.c.namespace_id == namespace_id,
                    definition_aliases.c.name == name,
                )
                .order_by(definition_aliases.c.alias)
            )
        ).scalars()
    )
    if routed:
        raise FailedPrecondition(
            f"aliases of definition '{name}' route to its versions ({', '.join(routed)}); "
            "delete them first",
            aliases=routed,
        )
    running = await open_runs(conn, namespace_id, name)
    if running:
        raise FailedPrecondition(
            f"definition '{name}' has {running} open run(s); wait for them or terminate them",
            open_runs=running,
        )
    await conn.execute(
        sa.delete(definitions).where(
            definitions.c.namespace_id == namespace_id, definitions.c.name == name
        )
    )


INSERT_PIN = hot(sa.insert(definition_runs))
SELECT_PIN = hot(
    sa.select(
        definition_runs.c.definition_id,
        definition_runs.c.name,
        definition_runs.c.version,
        definitions.c.document,
    )
    .select_from(
        definition_runs.outerjoin(definitions, definitions.c.id == definition_runs.c.definition_id)
    )
    .where(definition_runs.c.run_id == sa.bindparam("run_id"))
)


async def pin(
    conn: Connection, run_id: str, namespace_id: str, row: Any, alias: str | None = None
) -> None:
    """Pin the run to this version (a row of `version_row`), started through `alias` if any."""
    await conn.execute(
        INSERT_PIN,
        {
            "run_id": run_id,
            "namespace_id": namespace_id,
            "definition_id": row.id,
            "name": row.name,
            "version": row.version,
            "alias": alias,
        },
    )


async def pinned(conn: Connection, run_id: str) -> Any:
    """(definition_id, name, version, document text) of a run, or None."""
    return (await conn.execute(SELECT_PIN, {"run_id": run_id})).one_or_none()


async def delete_namespace_rows(conn: Connection, namespace_id: str) -> None:
    for table in (definition_aliases, definition_runs, definitions):
        await conn.execute(sa.delete(table).where(table.c.namespace_id == namespace_id))
