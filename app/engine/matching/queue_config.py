"""Per-queue flow-control configuration (Temporal's `UpdateTaskQueueConfig` /
`TaskQueueConfig`): a queue rate limit, a default rate limit per fairness key (scaled by the
key's weight) and fairness weight overrides, each limit recorded with who set it, when and why.

The configuration is read on the hot paths (every claim, every keyed enqueue), so each
process keeps what it read for `CACHE_SECONDS`; a change made through this process is seen at
once, one made through another process within that time (Temporal's own matching applies a
config change asynchronously too).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.statements import SELECT_CONFIG
from app.db.tables import task_queue_configs, task_queue_key_rates
from app.engine.priority import MAX_FAIRNESS_KEY_BYTES, MAX_FAIRNESS_WEIGHT, MIN_FAIRNESS_WEIGHT
from app.errors import InvalidArgument

if TYPE_CHECKING:
    from app.engine.transition import Transition

CACHE_SECONDS = 2.0
MAX_WEIGHT_OVERRIDES = 1000  # Temporal's limit on fairness weight overrides per queue
MAX_REASON_LENGTH = 1000
# Temporal's task queue types, and the task kinds they name here.
QUEUE_TYPES = {"TASK_QUEUE_TYPE_WORKFLOW": "workflow", "TASK_QUEUE_TYPE_ACTIVITY": "activity"}


@dataclass(frozen=True)
class QueueConfig:
    """One queue's configuration. Rate limits are `{"rate_limit": {"requests_per_second": r},
    "metadata": {"reason", "update_identity", "update_time"}}` or None."""

    queue_rate_limit: dict[str, Any] | None = None
    key_rate_limit_default: dict[str, Any] | None = None
    fairness_weight_overrides: dict[str, float] = field(default_factory=dict)

    @property
    def queue_rate(self) -> float | None:
        """Tasks per second the queue may dispatch; None: unlimited (0 stops dispatch)."""
        return _rate(self.queue_rate_limit)

    @property
    def key_rate(self) -> float | None:
        """The per-key default, before scaling by a key's weight; None: unlimited."""
        return _rate(self.key_rate_limit_default)

    def weight_of(self, key: str, task_weight: float | None) -> float:
        """The queue's override, else the task's weight, else 1.0 (Temporal's order)."""
        return self.fairness_weight_overrides.get(key) or task_weight or 1.0


NO_CONFIG = QueueConfig()


def _rate(limit: dict[str, Any] | None) -> float | None:
    if not limit or limit.get("rate_limit") is None:
        return None
    return float(limit["rate_limit"]["requests_per_second"])


_cache: dict[tuple[str, str, str], tuple[float, QueueConfig]] = {}


def _of_row(row: Any) -> QueueConfig:
    if row is None:
        return NO_CONFIG
    return QueueConfig(
        row.queue_rate_limit, row.key_rate_limit_default, dict(row.fairness_weight_overrides)
    )


async def read(conn: Connection, namespace_id: str, kind: str, task_queue: str) -> QueueConfig:
    """The queue's configuration as stored now."""
    params = {"namespace_id": namespace_id, "kind": kind, "task_queue": task_queue}
    row = (await conn.execute(SELECT_CONFIG, params)).one_or_none()
    config = _of_row(row)
    _cache[(namespace_id, kind, task_queue)] = (time.monotonic(), config)
    return config


async def cached(conn: Connection, namespace_id: str, kind: str, task_queue: str) -> QueueConfig:
    """The queue's configuration as this process read it at most CACHE_SECONDS ago."""
    hit = _cache.get((namespace_id, kind, task_queue))
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    return await read(conn, namespace_id, kind, task_queue)


def queue_kind(task_queue_type: str) -> str:
    """The task kind of one of Temporal's task queue types; InvalidArgument otherwise."""
    kind = QUEUE_TYPES.get(task_queue_type)
    if kind is None:
        raise InvalidArgument(
            f"task_queue_type must be one of {', '.join(QUEUE_TYPES)}", field="task_queue_type"
        )
    return kind


def _limit_update(
    update: dict[str, Any] | None, *, field_name: str, identity: str, now: datetime
) -> tuple[bool, dict[str, Any] | None]:
    """(whether to change it, the new stored limit) from an `update_*_rate_limit` member:
    `{rate_limit: {requests_per_second}, reason}`; no `rate_limit` removes the limit."""
    if update is None:
        return False, None
    reason = update.get("reason") or ""
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument(
            f"{field_name}.reason may be at most {MAX_REASON_LENGTH} characters",
            field=f"{field_name}.reason",
        )
    limit = update.get("rate_limit")
    if limit is None:
        return True, None
    rps = limit.get("requests_per_second")
    if not isinstance(rps, int | float) or isinstance(rps, bool) or not math.isfinite(rps):
        raise InvalidArgument(
            f"{field_name}.rate_limit.requests_per_second must be a number",
            field=f"{field_name}.rate_limit.requests_per_second",
        )
    if rps < 0:
        raise InvalidArgument(
            f"{field_name}.rate_limit.requests_per_second must be 0 or more (0 stops dispatch)",
            field=f"{field_name}.rate_limit.requests_per_second",
        )
    return True, {
        "rate_limit": {"requests_per_second": float(rps)},
        "metadata": {"reason": reason, "update_identity": identity, "update_time": now.isoformat()},
    }


def _check_weights(overrides: dict[str, Any]) -> None:
    for key, weight in overrides.items():
        where = f"set_fairness_weight_overrides.{key}"
        if not key or len(key.encode()) > MAX_FAIRNESS_KEY_BYTES:
            raise InvalidArgument(
                f"a fairness key must have 1 to {MAX_FAIRNESS_KEY_BYTES} bytes", field=where
            )
        if (
            not isinstance(weight, int | float)
            or isinstance(weight, bool)
            or not MIN_FAIRNESS_WEIGHT <= weight <= MAX_FAIRNESS_WEIGHT
        ):
            raise InvalidArgument(
                f"{where} must be between {MIN_FAIRNESS_WEIGHT} and {MAX_FAIRNESS_WEIGHT}",
                field=where,
            )


async def update(
    tx: Transition,
    namespace_id: str,
    task_queue: str,
    kind: str,
    *,
    identity: str,
    queue_rate_limit: dict[str, Any] | None = None,
    key_rate_limit_default: dict[str, Any] | None = None,
    set_weights: dict[str, Any] | None = None,
    unset_weights: list[str] | None = None,
) -> QueueConfig:
    """Apply Temporal's UpdateTaskQueueConfig to one queue and kind; returns the new
    configuration. InvalidArgument (400) for a negative or non-numeric rate, a weight outside
    [0.001, 1000], a key both set and unset, or more than 1,000 overrides in all."""
    set_weights = set_weights or {}
    unset_weights = unset_weights or []
    _check_weights(set_weights)
    both = set(set_weights) & set(unset_weights)
    if both:
        raise InvalidArgument(
            f"fairness key '{sorted(both)[0]}' is both set and unset",
            field="unset_fairness_weight_overrides",
        )
    change_queue, new_queue = _limit_update(
        queue_rate_limit, field_name="update_queue_rate_limit", identity=identity, now=tx.now
    )
    change_key, new_key = _limit_update(
        key_rate_limit_default,
        field_name="update_fairness_key_rate_limit_default",
        identity=identity,
        now=tx.now,
    )
    current = await read(tx.conn, namespace_id, kind, task_queue)
    overrides = {
        k: v for k, v in current.fairness_weight_overrides.items() if k not in unset_weights
    }
    overrides.update({k: float(v) for k, v in set_weights.items()})
    if len(overrides) > MAX_WEIGHT_OVERRIDES:
        raise InvalidArgument(
            f"a queue may have at most {MAX_WEIGHT_OVERRIDES} fairness weight overrides",
            field="set_fairness_weight_overrides",
        )
    config = QueueConfig(
        new_queue if change_queue else current.queue_rate_limit,
        new_key if change_key else current.key_rate_limit_default,
        overrides,
    )
    where = sa.and_(
        task_queue_configs.c.namespace_id == namespace_id,
        task_queue_configs.c.kind == kind,
        task_queue_configs.c.task_queue == task_queue,
    )
    values: dict[str, Any] = {
        "queue_rate_limit": config.queue_rate_limit,
        "key_rate_limit_default": config.key_rate_limit_default,
        "fairness_weight_overrides": config.fairness_weight_overrides,
        "updated_at": tx.now,
    }
    if change_queue:
        values["rate_next_at"] = 0.0  # a new limit starts with a full bucket
    updated = await tx.conn.execute(sa.update(task_queue_configs).where(where).values(values))
    if updated.rowcount == 0:
        await tx.conn.execute(
            sa.insert(task_queue_configs).values(
                namespace_id=namespace_id, kind=kind, task_queue=task_queue, **values
            )
        )
    if change_key:
        # Keys' limiters restart under the new default.
        await tx.conn.execute(
            sa.delete(task_queue_key_rates).where(
                task_queue_key_rates.c.namespace_id == namespace_id,
                task_queue_key_rates.c.kind == kind,
                task_queue_key_rates.c.task_queue == task_queue,
            )
        )
    _cache[(namespace_id, kind, task_queue)] = (time.monotonic(), config)
    return config


def describe(config: QueueConfig) -> dict[str, Any]:
    """Temporal's TaskQueueConfig as JSON."""
    return {
        "queue_rate_limit": config.queue_rate_limit,
        "fairness_keys_rate_limit_default": config.key_rate_limit_default,
        "fairness_weight_overrides": dict(sorted(config.fairness_weight_overrides.items())),
    }
