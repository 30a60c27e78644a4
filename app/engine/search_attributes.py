"""Search attributes: typed key/values of a run, indexed for equality filters."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from app.db.tables import workflow_search_attributes
from app.engine.payloads import dump, load
from app.engine.transition import Run, Transition
from app.errors import InvalidArgument

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
MAX_ATTRIBUTES = 100
MAX_VALUE_LENGTH = 2000


def canonical(value: Any) -> str:
    """The stored and compared form of a value: compact JSON."""
    return dump(value)


def validate(
    attributes: dict[str, Any] | None, *, field: str = "search_attributes"
) -> dict[str, Any]:
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"at most {MAX_ATTRIBUTES} search attributes", field=field)
    for name, value in attributes.items():
        if not NAME.match(name):
            raise InvalidArgument(
                f"search attribute name '{name}' is not valid", field=f"{field}.{name}"
            )
        scalar = (str, int, float, bool)
        ok = (
            value is None
            or isinstance(value, scalar)
            or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))
        )
        if not ok:
            raise InvalidArgument(
                f"search attribute '{name}' must be a string, number, boolean or a list of them",
                field=f"{field}.{name}",
            )
        if len(canonical(value)) > MAX_VALUE_LENGTH:
            raise InvalidArgument(f"search attribute '{name}' is too long", field=f"{field}.{name}")
    return attributes


async def upsert(tx: Transition, run: Run, attributes: dict[str, Any]) -> None:
    """Merge into the run's attributes; a None value removes the attribute."""
    if not attributes:
        return
    merged = {**(load(run.search_attributes) or {}), **attributes}
    merged = {k: v for k, v in merged.items() if v is not None}
    run.set(search_attributes=dump(merged) if merged else None)
    if not run.new:  # a run being started has no rows to replace yet
        await tx.conn.execute(
            sa.delete(workflow_search_attributes).where(
                workflow_search_attributes.c.run_id == run.id,
                workflow_search_attributes.c.name.in_(list(attributes)),
            )
        )
    rows = [
        {"run_id": run.id, "name": n, "namespace_id": run.namespace_id, "value": canonical(v)}
        for n, v in attributes.items()
        if v is not None
    ]
    if rows:
        await tx.conn.execute(sa.insert(workflow_search_attributes), rows)
