"""Which workers may take a task: the ramp hash, a deployment's routing, and the claim's
version filter (Temporal's matching with Worker Deployments).

A task is either pinned (`tasks.pinned_version`, a pinned run's) and goes only to that
version's workers, or unpinned and routed at claim time: on a queue no versioned worker
polls, to the unversioned workers as always; on a deployment's queue, to the deployment's
current version, or to its ramping one when `ramp_bucket(workflow_id) < ramping_percentage`.
The routing is read in the claim's own transaction, so the first task dispatched after a
set-current answer, by any server process, goes to the new version.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.hot import hot
from app.db.tables import worker_deployment_task_queues, worker_deployments

# Temporal's canonical version string is `deployment_name.build_id`; deployment names may
# therefore not contain the delimiter (Temporal refuses them too).
VERSION_DELIMITER = "."
RAMP_BUCKETS = 10_000  # buckets of 0.01 percentage point
# How long this process trusts what it read of a namespace's versioned queues. A queue's
# first versioned poll forgets it at once here and, on PostgreSQL, by NOTIFY elsewhere
# (app/engine/matching/wakeups.py `versioning_key`); this bound covers a lost NOTIFY.
QUEUES_CACHE_SECONDS = 10.0
# Above every bucket: a range [lo, ABOVE_ALL) holds every task from lo on.
ABOVE_ALL = 101.0


def ramp_bucket(workflow_id: str) -> float:
    """The workflow id's ramp bucket in [0, 100), in steps of 0.01: the first 8 bytes of
    SHA-256(workflow_id, UTF-8) as a big-endian unsigned integer, modulo 10,000, divided by
    100. A run goes to the ramping version iff `ramp_bucket(id) < percentage`, so raising the
    percentage only adds ids to the ramping side (Temporal hashes the workflow id the same
    way for the same reason: a run's side depends on its id and the percentage only)."""
    digest = hashlib.sha256(workflow_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % RAMP_BUCKETS / 100


def canonical(deployment_name: str, build_id: str) -> str:
    """`deployment_name.build_id`, Temporal's one-string form of a version."""
    return f"{deployment_name}{VERSION_DELIMITER}{build_id}"


def version_json(canonical_version: str | None) -> dict[str, str] | None:
    """`{"deployment_name", "build_id"}` of a canonical version string (None stays None)."""
    if canonical_version is None:
        return None
    name, _, build = canonical_version.partition(VERSION_DELIMITER)
    return {"deployment_name": name, "build_id": build}


@dataclass(frozen=True)
class Routing:
    """A deployment's routing: its current build ('' the unversioned workers), its ramping
    build (None: nothing ramps; '' the unversioned workers) and the ramping percentage."""

    current_build_id: str
    ramping_build_id: str | None
    ramping_percentage: float

    @classmethod
    def of_row(cls, row: Any) -> Routing:
        """The routing of a `worker_deployments` row."""
        return cls(row.current_build_id, row.ramping_build_id, float(row.ramping_percentage))

    def role_of(self, build_id: str) -> str | None:
        """'current', 'ramping' or None for one (non-empty) build id."""
        if build_id == self.current_build_id:
            return "current"
        if build_id == self.ramping_build_id:
            return "ramping"
        return None

    def target(self, bucket: float) -> str:
        """The build id an unpinned task of this bucket goes to ('' unversioned workers)."""
        if self.ramping_build_id is not None and bucket < self.ramping_percentage:
            return self.ramping_build_id
        return self.current_build_id

    def bucket_range(self, build_id: str) -> tuple[float, float]:
        """[lo, hi): the buckets of the unpinned tasks that `build_id` ('' the unversioned
        workers) takes; (0, 0) when none."""
        ramping = self.ramping_build_id
        takes_current = self.current_build_id == build_id
        if ramping is None:
            return (0.0, ABOVE_ALL) if takes_current else (0.0, 0.0)
        takes_ramping = ramping == build_id
        if takes_current and takes_ramping:
            return 0.0, ABOVE_ALL
        if takes_ramping:
            return 0.0, self.ramping_percentage
        if takes_current:
            return self.ramping_percentage, ABOVE_ALL
        return 0.0, 0.0


@dataclass(frozen=True)
class Route:
    """The claim's version filter: tasks pinned to `pinned` (a canonical version; None for an
    unversioned poller) and unpinned tasks with `lo <= ramp_bucket < hi`."""

    pinned: str | None
    lo: float
    hi: float

    def params(self) -> dict[str, Any]:
        return {"pinned_version": self.pinned, "bucket_lo": self.lo, "bucket_hi": self.hi}

    def admits(self, pinned_version: str | None, bucket: float) -> bool:
        """Whether a task of this pinned version and bucket passes the filter (in Python:
        what the SQL filter of `routed_filter` says)."""
        if pinned_version is not None:
            return pinned_version == self.pinned
        return self.lo <= bucket < self.hi


def routed_filter(table: sa.FromClause) -> sa.ColumnElement[bool]:
    """The SQL of a `Route` over `table` (the tasks table or an alias), bound as
    `:pinned_version`, `:bucket_lo` and `:bucket_hi` (Route.params)."""
    return sa.or_(
        table.c.pinned_version == sa.bindparam("pinned_version", type_=sa.String()),
        sa.and_(
            table.c.pinned_version.is_(None),
            table.c.ramp_bucket >= sa.bindparam("bucket_lo", type_=sa.Float()),
            table.c.ramp_bucket < sa.bindparam("bucket_hi", type_=sa.Float()),
        ),
    )


SELECT_ROUTING = hot(
    sa.select(
        worker_deployments.c.current_build_id,
        worker_deployments.c.ramping_build_id,
        worker_deployments.c.ramping_percentage,
    ).where(
        worker_deployments.c.namespace_id == sa.bindparam("namespace_id"),
        worker_deployments.c.name == sa.bindparam("deployment_name"),
    )
)


async def read_routing(conn: Connection, namespace_id: str, deployment_name: str) -> Routing | None:
    """The deployment's routing as committed now; None when the deployment does not exist."""
    row = (
        await conn.execute(
            SELECT_ROUTING, {"namespace_id": namespace_id, "deployment_name": deployment_name}
        )
    ).one_or_none()
    return None if row is None else Routing.of_row(row)


# -- which queues belong to a deployment (cached per process) --------------------------------

# namespace id -> (monotonic time read, {(kind, task_queue): deployment name})
_queues: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}
MAX_CACHED_NAMESPACES = 10_000

SELECT_VERSIONED_QUEUES = hot(
    sa.select(
        worker_deployment_task_queues.c.kind,
        worker_deployment_task_queues.c.task_queue,
        worker_deployment_task_queues.c.deployment_name,
    )
    .where(worker_deployment_task_queues.c.namespace_id == sa.bindparam("namespace_id"))
    # The most recently polled deployment wins when two poll one queue (a move between
    # deployments): later rows overwrite earlier ones below.
    .order_by(
        worker_deployment_task_queues.c.last_poll_time,
        worker_deployment_task_queues.c.deployment_name,
    )
)


def forget_namespace(namespace_id: str) -> None:
    """A queue of the namespace joined (or left) a deployment: read them again."""
    _queues.pop(namespace_id, None)


async def queue_deployment(
    conn: Connection, namespace_id: str, kind: str, task_queue: str
) -> str | None:
    """The deployment whose versions poll the queue, or None for an unversioned queue. Read
    at most once per QUEUES_CACHE_SECONDS per namespace and process, so that the claims of a
    namespace no versioned worker ever polled cost no statement more than before."""
    hit = _queues.get(namespace_id)
    now = time.monotonic()
    if hit is None or now - hit[0] >= QUEUES_CACHE_SECONDS:
        rows = (await conn.execute(SELECT_VERSIONED_QUEUES, {"namespace_id": namespace_id})).all()
        if len(_queues) >= MAX_CACHED_NAMESPACES:
            _queues.clear()
        hit = _queues[namespace_id] = (
            now,
            {(r.kind, r.task_queue): r.deployment_name for r in rows},
        )
    return hit[1].get((kind, task_queue))


async def route_for(
    conn: Connection,
    namespace_id: str,
    kind: str,
    task_queue: str,
    poller: tuple[str, str] | None,
) -> Route | None:
    """The claim's version filter for a poller of the queue: `poller` is its version
    (deployment name, build id) or None when unversioned. None: no filter (an unversioned
    poller of an unversioned queue, exactly as before versioning)."""
    if poller is None:
        deployment = await queue_deployment(conn, namespace_id, kind, task_queue)
        if deployment is None:
            return None
        build_id = ""
    else:
        deployment, build_id = poller
    routing = await read_routing(conn, namespace_id, deployment)
    if routing is None:  # deleted meanwhile: its versioned pollers get nothing unpinned
        return None if poller is None else Route(canonical(*poller), 0.0, 0.0)
    lo, hi = routing.bucket_range(build_id)
    return Route(canonical(*poller) if poller is not None else None, lo, hi)


async def pinned_version_for_task(
    conn: Connection, run: dict[str, Any], kind: str, task_queue: str
) -> str | None:
    """The version a new task of the run is pinned to: a PINNED run's, for its workflow tasks
    and for activities on a queue of the same deployment (an activity on another queue
    follows that queue's routing). None for every other task (no statement: an unversioned
    run is seen from its row)."""
    if run.get("versioning_behavior") != "PINNED" or not run.get("deployment_name"):
        return None
    name = run["deployment_name"]
    if kind == "activity" and task_queue != run["task_queue"]:
        if await queue_deployment(conn, run["namespace_id"], kind, task_queue) != name:
            return None
    return canonical(name, run["build_id"])


class TaskTarget:
    """Where a new task (or query) goes: the version filter of the pollers that may take it
    (`route`, for its place in a fair queue) and the line it is offered to (`line`). The
    routing is read at most once per task, and only when asked: nothing on a queue no
    versioned worker polls (the queue cache), nothing for a pinned task's line."""

    __slots__ = (
        "_bucket",
        "_conn",
        "_kind",
        "_namespace_id",
        "_pinned",
        "_queue",
        "_resolved",
        "_route",
    )

    def __init__(
        self,
        conn: Connection,
        namespace_id: str,
        kind: str,
        task_queue: str,
        pinned: str | None,
        bucket: float,
    ) -> None:
        self._conn, self._namespace_id, self._kind = conn, namespace_id, kind
        self._queue, self._pinned, self._bucket = task_queue, pinned, bucket
        self._resolved = False
        self._route: Route | None = None

    async def route(self) -> Route | None:
        """The version filter of the pollers the task goes to now: what they see of the
        queue. None on a queue no versioned worker polls (or whose deployment is gone)."""
        if not self._resolved:
            self._route, self._resolved = await self._resolve(), True
        return self._route

    async def line(self) -> str | None:
        """Whose line the task is offered to: its pinned version, else on a deployment's
        queue the version its routing sends the bucket to now (None: the unversioned
        pollers). Only a hint: the claim reads the routing again."""
        if self._pinned is not None:
            return self._pinned
        found = await self.route()
        return None if found is None else found.pinned

    async def _resolve(self) -> Route | None:
        conn, namespace_id = self._conn, self._namespace_id
        if self._pinned is not None:
            name, _, build_id = self._pinned.partition(VERSION_DELIMITER)
            found = await read_routing(conn, namespace_id, name)
            lo, hi = found.bucket_range(build_id) if found is not None else (0.0, 0.0)
            return Route(self._pinned, lo, hi)
        deployment = await queue_deployment(conn, namespace_id, self._kind, self._queue)
        if deployment is None:
            return None
        found = await read_routing(conn, namespace_id, deployment)
        if found is None:
            return None
        target = found.target(self._bucket)
        lo, hi = found.bucket_range(target)
        return Route(canonical(deployment, target) if target else None, lo, hi)
