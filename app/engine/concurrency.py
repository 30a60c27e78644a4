"""Per-key concurrency limits of a namespace: what they are, and how a run's or an activity's
key value is read. Slots are kept by app/engine/concurrency_slots.py.

A limit counts by `key`: `activity_type`, `workflow_type`, `task_queue`,
`search_attributes.<Name>` or `concurrency_keys.<name>` (a map a start passes, which an
activity inherits unless it sets its own). Strategies keep Hatchet's names:
GROUP_ROUND_ROBIN waits, CANCEL_IN_PROGRESS cancels the oldest running, CANCEL_NEWEST refuses
the new one. Each process keeps a namespace's limits for CACHE_SECONDS (a change through this
process is seen at once), so a namespace without limits pays nothing on dispatch.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.statements import SELECT_LIMITS
from app.db.tables import concurrency_slots
from app.engine.payloads import load
from app.errors import InvalidArgument

CACHE_SECONDS = 2.0
APPLIES_TO = ("activities", "workflows")
STRATEGIES = ("GROUP_ROUND_ROBIN", "CANCEL_IN_PROGRESS", "CANCEL_NEWEST")
MAX_LIMITS = 100  # per namespace: every dispatch under a limit reads them all
MAX_CONCURRENCY_KEYS = 16
MAX_KEY_NAME = 64
MAX_KEY_VALUE = 1000
_KEY = re.compile(
    r"^(activity_type|workflow_type|task_queue|"
    r"search_attributes\.[A-Za-z_][A-Za-z0-9_]{0,63}|concurrency_keys\.[A-Za-z0-9_.\-]{1,64})$"
)


@dataclass(frozen=True)
class Limit:
    id: str
    name: str
    applies_to: str
    key: str
    max_running: int
    strategy: str
    paused: bool


_cache: dict[str, tuple[float, list[Limit]]] = {}


def _of_row(row: Any) -> Limit:
    return Limit(
        row.id, row.name, row.applies_to, row.key, row.max_running, row.strategy, row.paused
    )


def forget(namespace_id: str) -> None:
    """Drop this process's copy of the namespace's limits (after a change)."""
    _cache.pop(namespace_id, None)


async def limits(conn: Connection, namespace_id: str, applies_to: str) -> list[Limit]:
    """The namespace's limits on `applies_to`, as this process read them at most
    CACHE_SECONDS ago."""
    hit = _cache.get(namespace_id)
    now = time.monotonic()
    if hit is None or now - hit[0] >= CACHE_SECONDS:
        rows = await conn.execute(SELECT_LIMITS, {"namespace_id": namespace_id})
        hit = _cache[namespace_id] = (now, [_of_row(r) for r in rows])
    return [limit for limit in hit[1] if limit.applies_to == applies_to]


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidArgument(
            "key must be activity_type, workflow_type, task_queue, search_attributes.<Name> "
            "or concurrency_keys.<name>",
            field="key",
        )
    return key


def check_concurrency_keys(value: Any, *, field: str = "concurrency_keys") -> str | None:
    """Validate a `concurrency_keys` map (name → string value); its JSON text, or None."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or len(value) > MAX_CONCURRENCY_KEYS:
        raise InvalidArgument(
            f"{field} must be a map of at most {MAX_CONCURRENCY_KEYS} names to strings",
            field=field,
        )
    for name, item in value.items():
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
            raise InvalidArgument(
                f"{field}: a name has 1 to {MAX_KEY_NAME} letters, digits, '_', '.' or '-'",
                field=f"{field}.{name[:64]}",
            )
        if not isinstance(item, str) or not 0 < len(item) <= MAX_KEY_VALUE:
            raise InvalidArgument(
                f"{field}.{name} must be a string of 1 to {MAX_KEY_VALUE} characters",
                field=f"{field}.{name}",
            )
    return orjson.dumps(dict(sorted(value.items()))).decode()


def key_value(limit: Limit, fields: dict[str, Any]) -> str | None:
    """The value of the limit's key for a run or activity described by `fields`
    (`activity_type`, `workflow_type`, `task_queue`, `search_attributes` as a dict,
    `concurrency_keys` as a dict), or None when it has none (the limit does not apply)."""
    head, _, name = limit.key.partition(".")
    if not name:
        value = fields.get(head)
    else:
        value = (fields.get(head) or {}).get(name)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return str(value)[:MAX_KEY_VALUE]


def describe_value(limit: Limit, value: str) -> str:
    """`customer=acme` for `concurrency_keys.customer`; `activity_type=charge` otherwise."""
    name = limit.key.partition(".")[2] or limit.key
    return f"{name}={value}"


def run_fields(run: Any) -> dict[str, Any]:
    return {
        "workflow_type": run["workflow_type"],
        "task_queue": run["task_queue"],
        "search_attributes": load(run["search_attributes"]) or {},
        "concurrency_keys": load(run["concurrency_keys"]) or {},
    }


def activity_fields(run: Any, activity: Any) -> dict[str, Any]:
    """An activity's key values: its own concurrency_keys, else its run's (read at dispatch)."""
    own = load(activity["concurrency_keys"])
    return {
        "activity_type": activity["activity_type"],
        "workflow_type": run["workflow_type"],
        "task_queue": activity["task_queue"],
        "search_attributes": load(run["search_attributes"]) or {},
        "concurrency_keys": own if own is not None else (load(run["concurrency_keys"]) or {}),
    }


def describe(row: Any, running: int, waiting: int) -> dict[str, Any]:
    return {
        "name": row.name,
        "applies_to": row.applies_to,
        "key": row.key,
        "max_running": row.max_running,
        "strategy": row.strategy,
        "paused": row.paused,
        "running": running,
        "waiting": waiting,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def counts(conn: Connection, limit_ids: list[str]) -> dict[tuple[str, str], int]:
    """(limit id, 'running' | 'waiting') → slots; reserved slots count as running."""
    if not limit_ids:
        return {}
    out: dict[tuple[str, str], int] = {}
    for limit_id, state, count in await conn.execute(
        sa.select(concurrency_slots.c.limit_id, concurrency_slots.c.state, sa.func.count())
        .where(concurrency_slots.c.limit_id.in_(limit_ids))
        .group_by(concurrency_slots.c.limit_id, concurrency_slots.c.state)
    ):
        which = "waiting" if state == "waiting" else "running"
        out[(limit_id, which)] = out.get((limit_id, which), 0) + count
    return out
