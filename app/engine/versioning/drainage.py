"""A version's status through its life (Temporal's WorkerDeploymentVersionStatus): inactive
until first current or ramping; current; ramping; then draining while runs pinned to it are
open, and drained once none is.

Statuses are set by every routing change (`apply_routing`), when a version's last pinned run
closes (`on_pinned_runs_closed`, from the close path), and by the drainage loop, which counts
again every draining or drained version at least every PERDURE_DRAINAGE_CHECK_SECONDS of the
engine clock (a pinned run can also leave a version without closing, by an override, or come
to a drained one by an override: Temporal reactivates such a version to draining).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.outage import report_failure
from app.db.tables import worker_deployment_versions
from app.engine.transition import Transition
from app.engine.versioning.deployments import (
    PINNED,
    has_open_pinned_runs,
    open_runs_query,
    version_key,
)
from app.engine.versioning.routing import Routing

if TYPE_CHECKING:
    from app.engine.service import Engine

log = logging.getLogger("perdure.versioning")

_versions = worker_deployment_versions
# Versions recounted per tick at most; the rest wait for the next tick (oldest check first).
MAX_CHECKS_PER_TICK = 200
# Full ticks in a row before the loop pauses anyway (a backlog of 10,000 versions a look).
MAX_TICKS_IN_A_ROW = 50


async def _settle_inactive_role(
    conn: Connection, now: datetime, namespace_id: str, deployment_name: str, build_id: str
) -> None:
    """A version that has just stopped being current or ramping: draining while a pinned run
    of it is open, else drained at once (the count is exact here, unlike Temporal's
    visibility-based one that needs a grace period)."""
    draining = await has_open_pinned_runs(conn, namespace_id, deployment_name, build_id)
    await conn.execute(
        sa.update(_versions)
        .where(version_key(namespace_id, deployment_name, build_id))
        .values(
            status="draining" if draining else "drained",
            current_since=None,
            ramping_since=None,
            last_deactivation_time=now,
            routing_changed_at=now,
            drainage_changed_at=now,
            drainage_checked_at=now,
        )
    )


async def apply_routing(
    conn: Connection,
    now: datetime,
    namespace_id: str,
    deployment_name: str,
    before: Routing,
    after: Routing,
) -> None:
    """Set the status and times of every version a routing change touched (Temporal's
    SyncWorkerDeploymentVersion): the new current (current_since, its ramp gone), the new
    ramping (ramping_since when it starts ramping), and those no longer either (draining or
    drained, last_deactivation_time). `first_activation_time` is kept once set."""
    touched = {
        before.current_build_id,
        before.ramping_build_id,
        after.current_build_id,
        after.ramping_build_id,
    } - {"", None}
    for build_id in sorted(b for b in touched if b):
        was, now_role = before.role_of(build_id), after.role_of(build_id)
        key = version_key(namespace_id, deployment_name, build_id)
        if now_role is None:
            if was is not None:
                await _settle_inactive_role(conn, now, namespace_id, deployment_name, build_id)
            continue
        if now_role == was == "current":
            continue  # a change of the ramp only: the current version is not told
        if now_role == was == "ramping":  # its percentage changed
            await conn.execute(sa.update(_versions).where(key).values(routing_changed_at=now))
            continue
        values: dict[str, Any] = {
            "status": now_role,
            "routing_changed_at": now,
            "first_activation_time": sa.func.coalesce(_versions.c.first_activation_time, now),
            "drainage_changed_at": None,
            "drainage_checked_at": None,
        }
        if now_role == "current":
            values.update(current_since=now, ramping_since=None)
        else:
            values.update(ramping_since=now, current_since=None)
        await conn.execute(sa.update(_versions).where(key).values(values))


# Pinned open runs of the version: none left (the subquery is served by the partial index).
def _no_pinned_run_open(
    namespace_id: str, deployment_name: str, build_id: str
) -> sa.ColumnElement[bool]:
    return ~sa.exists(open_runs_query(namespace_id, deployment_name, build_id, PINNED))


async def on_pinned_runs_closed(tx: Transition) -> None:
    """After the transition's runs were written: each draining version whose pinned runs
    closed in it, and that has no other open pinned run, is drained now."""
    for namespace_id, deployment_name, build_id in sorted(tx.pinned_runs_closed):
        await tx.conn.execute(
            sa.update(_versions)
            .where(
                version_key(namespace_id, deployment_name, build_id),
                _versions.c.status == "draining",
                _no_pinned_run_open(namespace_id, deployment_name, build_id),
            )
            .values(status="drained", drainage_changed_at=tx.now, drainage_checked_at=tx.now)
        )


async def check_drainage(tx: Transition, *, every: float) -> int:
    """One tick of the drainage loop: count again each draining or drained version not
    counted for `every` seconds (engine clock), up to MAX_CHECKS_PER_TICK, oldest check
    first; a draining one without open pinned runs becomes drained, a drained one that has
    some again (an override pinned runs to it) draining. Returns how many were counted."""
    due = tx.now - timedelta(seconds=every)
    rows = (
        await tx.conn.execute(
            sa.select(
                _versions.c.namespace_id,
                _versions.c.deployment_name,
                _versions.c.build_id,
                _versions.c.status,
            )
            .where(
                _versions.c.status.in_(("draining", "drained")),
                sa.or_(
                    _versions.c.drainage_checked_at.is_(None),
                    _versions.c.drainage_checked_at <= due,
                ),
            )
            .order_by(_versions.c.drainage_checked_at.asc().nulls_first())
            .limit(MAX_CHECKS_PER_TICK)
        )
    ).all()
    for namespace_id, deployment_name, build_id, status in rows:
        draining = await has_open_pinned_runs(tx.conn, namespace_id, deployment_name, build_id)
        new_status = "draining" if draining else "drained"
        values: dict[str, Any] = {"drainage_checked_at": tx.now}
        if new_status != status:
            values.update(status=new_status, drainage_changed_at=tx.now)
        await tx.conn.execute(
            sa.update(_versions)
            .where(
                version_key(namespace_id, deployment_name, build_id),
                _versions.c.status == status,  # a routing change since the read wins
            )
            .values(values)
        )
    return len(rows)


class DrainageLoop:
    """Counts draining and drained versions' pinned runs again, at least every
    PERDURE_DRAINAGE_CHECK_SECONDS of the engine clock. Safe on many replicas: each update is
    conditional on the status it read. It wakes at most every poll_fallback_seconds (real
    time) to look at the engine clock, so a clock moved forward (time skipping, the dev
    clock) is seen within that."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.every = engine.ctx.settings.drainage_check_seconds

    async def tick(self) -> int:
        """One look: every version due a recount, counted (returns how many)."""
        return await self.engine.transact(partial(check_drainage, every=self.every))

    async def run(self, stop: asyncio.Event) -> None:
        pause = min(self.every, self.engine.fallback)
        while not stop.is_set():
            try:
                for _ in range(MAX_TICKS_IN_A_ROW):
                    if await self.tick() < MAX_CHECKS_PER_TICK or stop.is_set():
                        break  # else more are due: go on at once
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                report_failure(log, "drainage loop tick", exc)
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except TimeoutError:
                pass
