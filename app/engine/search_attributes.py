"""Search attributes of runs: the types a namespace registered, the checks every start and
upsert passes (Temporal's: unknown names and values of the wrong type are refused), and the
indexed rows that visibility queries read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import (
    namespace_search_attributes,
    workflow_runs,
    workflow_search_attributes,
    workflow_search_texts,
)
from app.engine.payloads import dump, load
from app.engine.search_attribute_types import (
    NAME,
    PREDEFINED_ATTRIBUTES,
    SYSTEM_ATTRIBUTES,
    SAType,
    check_name,
    check_value,
)
from app.engine.transition import Run, Transition
from app.errors import AlreadyExists, InvalidArgument, LimitExceeded, NotFound

MAX_ATTRIBUTES = 100  # per run, and custom attributes per namespace
BAD_SEARCH_ATTRIBUTES = "BAD_SEARCH_ATTRIBUTES"  # Temporal's workflow task failure cause
_REMOVAL_BATCH = 200  # runs rewritten per statement when an attribute is removed


def validate(
    attributes: dict[str, Any] | None, *, field: str = "search_attributes"
) -> dict[str, Any]:
    """Shape checks that need no database: how many, and well-formed names. Types are checked
    against the namespace's registry by `check` inside the transition."""
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"at most {MAX_ATTRIBUTES} search attributes", field=field)
    for name in attributes:
        if not NAME.match(name):
            raise InvalidArgument(
                f"search attribute name '{name}' is not valid", field=f"{field}.{name}"
            )
    return attributes


# -- the registry ---------------------------------------------------------------------------------


async def registered_types(
    conn: Connection, namespace_id: str, names: Iterable[str] | None = None
) -> dict[str, SAType]:
    """Custom attributes of the namespace (all, or only those named) with their types."""
    t = namespace_search_attributes
    query = sa.select(t.c.name, t.c.type).where(t.c.namespace_id == namespace_id)
    if names is not None:
        wanted = [n for n in names if n not in PREDEFINED_ATTRIBUTES]
        if not wanted:
            return {}
        query = query.where(t.c.name.in_(wanted))
    return {name: SAType(kind) for name, kind in await conn.execute(query)}


async def register(
    conn: Connection, namespace_id: str, wanted: dict[str, str], now: datetime
) -> dict[str, SAType]:
    """Add custom attributes (Temporal's AddSearchAttributes). Registering a name again with
    the same type changes nothing; with another type it is a conflict. Returns all of them."""
    types = {
        name: SAType.parse(kind, field=f"search_attributes.{name}") for name, kind in wanted.items()
    }
    for name in types:
        check_name(name, field=f"search_attributes.{name}")
    existing = await registered_types(conn, namespace_id)
    for name, sa_type in types.items():
        if name in existing and existing[name] is not sa_type:
            raise AlreadyExists(
                f"search attribute '{name}' is already registered as {existing[name].value}",
                search_attribute=name,
                search_attribute_type=existing[name].value,
            )
    new = {name: t for name, t in types.items() if name not in existing}
    if len(existing) + len(new) > MAX_ATTRIBUTES:
        raise LimitExceeded(
            f"a namespace may register at most {MAX_ATTRIBUTES} custom search attributes",
            limit=MAX_ATTRIBUTES,
        )
    if new:
        await conn.execute(
            sa.insert(namespace_search_attributes),
            [
                {"namespace_id": namespace_id, "name": n, "type": t.value, "created_at": now}
                for n, t in new.items()
            ],
        )
    return {**existing, **new}


async def unregister(conn: Connection, namespace_id: str, name: str) -> dict[str, SAType]:
    """Remove a custom attribute (Temporal's RemoveSearchAttributes); returns those left.

    As in Temporal, the name leaves the namespace's list, list filters naming it are refused
    and starts and upserts setting it too. Runs' values of it are removed with it (their
    indexed rows and the key in each run's attributes) in this transaction, so registering
    the name again, of any type, starts empty; Temporal's SQL visibility instead keeps them
    under the column's own name (`Keyword01`) and shows them again when the name is re-added
    with the same type. Histories keep what they recorded. InvalidArgument for a system or
    predefined attribute ("Unable to remove non-custom search attributes"), NotFound for a
    name the namespace has not registered. The runs holding a value are found by the lookup
    index (values) or ix_workflow_search_texts_name (Text), then read and rewritten
    _REMOVAL_BATCH at a time (a select and an update each); one transaction however many."""
    if name in SYSTEM_ATTRIBUTES or name in PREDEFINED_ATTRIBUTES:
        raise InvalidArgument(
            f"unable to remove non-custom search attribute '{name}'",
            field="name",
            search_attribute=name,
        )
    existing = await registered_types(conn, namespace_id)
    sa_type = existing.pop(name, None)
    if sa_type is None:
        raise NotFound(f"search attribute '{name}' is not registered", search_attribute=name)
    table = workflow_search_texts if sa_type is SAType.TEXT else workflow_search_attributes
    held = sa.and_(table.c.namespace_id == namespace_id, table.c.name == name)
    found = await conn.execute(sa.select(table.c.run_id).where(held).distinct())
    run_ids = [run_id for (run_id,) in found]
    for start in range(0, len(run_ids), _REMOVAL_BATCH):
        batch = run_ids[start : start + _REMOVAL_BATCH]
        rows = await conn.execute(
            sa.select(workflow_runs.c.id, workflow_runs.c.search_attributes).where(
                workflow_runs.c.id.in_(batch)
            )
        )
        changed = []
        for run_id, text in rows:
            values = load(text) or {}
            if name in values:
                del values[name]
                changed.append({"b_id": run_id, "b_values": dump(values) if values else None})
        if changed:
            await conn.execute(
                sa.update(workflow_runs)
                .where(workflow_runs.c.id == sa.bindparam("b_id"))
                .values(search_attributes=sa.bindparam("b_values")),
                changed,
            )
    await conn.execute(sa.delete(table).where(held))
    t = namespace_search_attributes
    await conn.execute(sa.delete(t).where(t.c.namespace_id == namespace_id, t.c.name == name))
    return existing


def predefined_and_system() -> dict[str, SAType]:
    return {**SYSTEM_ATTRIBUTES, **PREDEFINED_ATTRIBUTES}


# -- checks and rows -------------------------------------------------------------------------------


async def check(
    conn: Connection, namespace_id: str, attributes: dict[str, Any], *, field: str
) -> dict[str, tuple[SAType, list[str]]]:
    """Each attribute's type and stored forms; InvalidArgument (cause BAD_SEARCH_ATTRIBUTES)
    for a system attribute, a name the namespace has not registered, or a value of the wrong
    type, as Temporal refuses them. A None value (removal) has no stored form. A single-valued
    attribute given as a list of one value (Temporal's untyped form) is replaced in
    `attributes` by that value."""
    if not attributes:
        return {}
    types = await registered_types(conn, namespace_id, attributes)
    checked: dict[str, tuple[SAType, list[str]]] = {}
    for name, value in attributes.items():
        where = f"{field}.{name}"
        if name in SYSTEM_ATTRIBUTES:
            raise InvalidArgument(
                f"search attribute '{name}' is set by the system and cannot be set",
                field=where,
                cause=BAD_SEARCH_ATTRIBUTES,
            )
        sa_type = PREDEFINED_ATTRIBUTES.get(name) or types.get(name)
        if sa_type is None:
            raise InvalidArgument(
                f"search attribute '{name}' is not defined; register it first with "
                "POST …/search-attributes",
                field=where,
                search_attribute=name,
                cause=BAD_SEARCH_ATTRIBUTES,
            )
        if sa_type is not SAType.KEYWORD_LIST and isinstance(value, list) and len(value) == 1:
            # Temporal's untyped form lists every value (`{"CustomKeywordField": ["v"]}`): a
            # list of one is that value, kept so in place for the event and the run's row.
            value = attributes[name] = value[0]
        empty = value is None or value == []  # Temporal: an empty value unsets the attribute
        try:
            stored = [] if empty else check_value(name, sa_type, value, field=where)
        except InvalidArgument as err:
            err.extra["cause"] = BAD_SEARCH_ATTRIBUTES
            raise
        checked[name] = (sa_type, stored)
    return checked


async def upsert(tx: Transition, run: Run, attributes: dict[str, Any]) -> None:
    """Merge into the run's attributes, checked against the namespace's types; a None (or
    empty list) value removes the attribute."""
    if not attributes:
        return
    checked = await check(tx.conn, run.namespace_id, attributes, field="search_attributes")
    removed = {name for name, (_, stored) in checked.items() if not stored}
    merged = {
        k: v
        for k, v in {**(load(run.search_attributes) or {}), **attributes}.items()
        if k not in removed
    }
    run.set(search_attributes=dump(merged) if merged else None)
    texts = [n for n, (t, _) in checked.items() if t is SAType.TEXT]
    values = [n for n, (t, _) in checked.items() if t is not SAType.TEXT]
    if not run.new:  # a run being started has no rows to replace yet
        for table, names in ((workflow_search_attributes, values), (workflow_search_texts, texts)):
            if names:
                await tx.conn.execute(
                    sa.delete(table).where(table.c.run_id == run.id, table.c.name.in_(names))
                )
    rows = {workflow_search_attributes: [], workflow_search_texts: []}  # type: ignore[var-annotated]  # rows per table, filled below
    for name, (sa_type, stored) in checked.items():
        table = workflow_search_texts if sa_type is SAType.TEXT else workflow_search_attributes
        rows[table] += [
            {"namespace_id": run.namespace_id, "run_id": run.id, "name": name, "value": v}
            for v in stored
        ]
    for table, batch in rows.items():
        if batch:
            await tx.conn.execute(sa.insert(table), batch)


async def delete_run_rows(conn: Connection, run_ids: list[str]) -> None:
    """Forget the indexed values of runs being deleted."""
    for table in (workflow_search_attributes, workflow_search_texts):
        await conn.execute(sa.delete(table).where(table.c.run_id.in_(run_ids)))
