"""Step Functions' state machine aliases for stored definitions: an alias routes new runs to
one version, or to two by integer weights summing to 100 (AWS `RoutingConfiguration`), the
version drawn per start. Changing an alias never touches a run already started: a run pins its
version (and records the alias) when it starts."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import definition_aliases, definitions
from app.definitions import store
from app.errors import FailedPrecondition, InvalidArgument, NotFound
from app.ids import new_id

# AWS: an alias name is 1-80 characters; it may not be all digits, which would read as a
# version in `name:qualifier`.
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")
# AWS: at most 100 aliases per state machine.
MAX_ALIASES = 100
# The per-start draw. Injectable: tests replace it with a seeded `random.Random` (`use_source`).
_source: random.Random = random.Random()


@dataclass(frozen=True)
class Route:
    """One entry of an alias's routing: a version and its integer weight (0-100)."""

    version: int
    weight: int


def use_source(source: random.Random) -> random.Random:
    """Draw versions from `source` from now on; returns the source used until now."""
    global _source
    previous, _source = _source, source
    return previous


def check_alias_name(alias: str) -> None:
    """AWS's rule for an alias name; `InvalidArgument` otherwise."""
    if not ALIAS_PATTERN.match(alias):
        raise InvalidArgument(
            f"alias name {alias!r} is not valid (1-80 letters, digits, '-' or '_')", field="alias"
        )
    if alias.isdigit():
        raise InvalidArgument(
            f"alias name {alias!r} is all digits, which names a version", field="alias"
        )


def check_routing(routing: list[Route]) -> None:
    """AWS `RoutingConfiguration`: one or two distinct versions, integer weights 0-100 that
    sum to 100; `InvalidArgument` otherwise."""
    if not 1 <= len(routing) <= 2:
        raise InvalidArgument("routing names one or two versions", field="routing")
    if len({route.version for route in routing}) != len(routing):
        raise InvalidArgument("routing names a version twice", field="routing")
    if sum(route.weight for route in routing) != 100:
        raise InvalidArgument("routing weights must sum to 100", field="routing")


def choose_version(routing: list[Route], draw: float) -> int:
    """The version a start goes to, for a uniform draw in [0, 1): the first version when
    `draw * 100` falls under its weight, else the second."""
    if draw * 100 < routing[0].weight or len(routing) == 1:
        return routing[0].version
    return routing[1].version


def _routing_of(text: str) -> list[Route]:
    return [Route(int(r["version"]), int(r["weight"])) for r in orjson.loads(text)]


def _answer(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "alias": row.alias,
        "description": row.description,
        "routing": [{"version": r.version, "weight": r.weight} for r in _routing_of(row.routing)],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def _row(conn: Connection, namespace_id: str, name: str, alias: str) -> Any:
    t = definition_aliases
    return (
        await conn.execute(
            sa.select(t).where(
                t.c.namespace_id == namespace_id, t.c.name == name, t.c.alias == alias
            )
        )
    ).one_or_none()


async def put_alias(
    conn: Connection,
    namespace_id: str,
    name: str,
    alias: str,
    routing: list[Route],
    description: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create or replace an alias (AWS CreateStateMachineAlias / UpdateStateMachineAlias);
    (the alias, created). Every routed version must exist (`InvalidArgument`), the definition
    too (`NotFound`)."""
    check_alias_name(alias)
    check_routing(routing)
    await store.get(conn, namespace_id, name)
    existing = set(
        (
            await conn.execute(
                sa.select(definitions.c.version).where(
                    definitions.c.namespace_id == namespace_id,
                    definitions.c.name == name,
                    definitions.c.version.in_([r.version for r in routing]),
                )
            )
        ).scalars()
    )
    for index, route in enumerate(routing):
        if route.version not in existing:
            raise InvalidArgument(
                f"definition '{name}' has no version {route.version}",
                field=f"routing[{index}].version",
            )
    text = orjson.dumps([{"version": r.version, "weight": r.weight} for r in routing]).decode()
    row = await _row(conn, namespace_id, name, alias)
    t = definition_aliases
    if row is None:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(t.c.namespace_id == namespace_id, t.c.name == name)
        )
        if (count or 0) >= MAX_ALIASES:
            raise FailedPrecondition(
                f"definition '{name}' already has {MAX_ALIASES} aliases", limit=MAX_ALIASES
            )
        await conn.execute(
            sa.insert(t).values(
                id=new_id(),
                namespace_id=namespace_id,
                name=name,
                alias=alias,
                routing=text,
                description=description,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        await conn.execute(
            sa.update(t)
            .where(t.c.id == row.id)
            .values(routing=text, description=description, updated_at=now)
        )
    return _answer(await _row(conn, namespace_id, name, alias)), row is None


async def get_alias(conn: Connection, namespace_id: str, name: str, alias: str) -> dict[str, Any]:
    """One alias; `NotFound` when the definition has no such alias."""
    row = await _row(conn, namespace_id, name, alias)
    if row is None:
        raise NotFound(f"definition '{name}' has no alias '{alias}'", definition=name, alias=alias)
    return _answer(row)


async def list_aliases(conn: Connection, namespace_id: str, name: str) -> list[dict[str, Any]]:
    """The aliases of a definition name, by alias (at most `MAX_ALIASES`: no paging needed);
    `NotFound` without the definition."""
    await store.get(conn, namespace_id, name)
    t = definition_aliases
    rows = await conn.execute(
        sa.select(t).where(t.c.namespace_id == namespace_id, t.c.name == name).order_by(t.c.alias)
    )
    return [_answer(row) for row in rows]


async def delete_alias(conn: Connection, namespace_id: str, name: str, alias: str) -> None:
    """Delete an alias (runs started through it keep their version)."""
    row = await _row(conn, namespace_id, name, alias)
    if row is None:
        raise NotFound(f"definition '{name}' has no alias '{alias}'", definition=name, alias=alias)
    await conn.execute(sa.delete(definition_aliases).where(definition_aliases.c.id == row.id))


async def resolve(conn: Connection, namespace_id: str, name: str, alias: str) -> Any:
    """The version row a start through the alias goes to, drawn now; `NotFound` without the
    alias."""
    row = await _row(conn, namespace_id, name, alias)
    if row is None:
        raise NotFound(f"definition '{name}' has no alias '{alias}'", definition=name, alias=alias)
    version = choose_version(_routing_of(row.routing), _source.random())
    return await store.version_row(conn, namespace_id, name, version)
