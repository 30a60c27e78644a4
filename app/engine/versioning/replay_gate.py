"""The replay gate (issue #21 §3): a version becomes current or ramping only when its latest
replay check that still counts (finished within 24 hours) passed. Perdure's addition: no
Temporal anchor has it; `ignore_replay_check` on the promotion skips it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import replay_checks
from app.engine.versioning.replay_checks import VALID_FOR, failing_runs
from app.engine.versioning.replay_tasks import FAILED, PASSED, RUNNING
from app.engine.versioning.routing import canonical
from app.errors import ReplayCheckFailed, ReplayCheckRequired


async def require_passing_check(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str, now: datetime
) -> None:
    """Return when version (deployment_name, build_id) may be promoted; else raise 409
    `replay-check-required` (no check finished within VALID_FOR; says when one is running)
    or `replay-check-failed` (the latest such check failed; `failures` lists up to 20 runs
    with workflow id, run id, kind, message and the event id where each diverged). The
    unversioned target (build_id '') is never gated."""
    if build_id == "":
        return
    c = replay_checks.c
    version = (
        c.namespace_id == namespace_id,
        c.deployment_name == deployment_name,
        c.build_id == build_id,
    )
    # Served by ix_replay_checks_version (the version's checks by create time).
    latest = (
        await conn.execute(
            sa.select(c.id, c.status, c.failed, c.total)
            .where(*version, c.status.in_((PASSED, FAILED)), c.finished_at > now - VALID_FOR)
            .order_by(c.finished_at.desc(), c.created_at.desc())
            .limit(1)
        )
    ).one_or_none()
    name = canonical(deployment_name, build_id)
    if latest is None:
        running = await conn.scalar(sa.select(c.id).where(*version, c.status == RUNNING).limit(1))
        raise ReplayCheckRequired(
            f"version {name} has no replay check finished in the last 24 hours"
            + (f" (check {running} is still running)" if running else "")
            + ": POST …/worker-deployment-versions/{deployment_name}/{build_id}/replay-check, "
            'or send "ignore_replay_check": true',
            deployment_name=deployment_name,
            build_id=build_id,
            running_check_id=running,
        )
    if latest.status == FAILED:
        raise ReplayCheckFailed(
            f"version {name} failed its latest replay check ({latest.failed} of "
            f"{latest.total} run(s) did not replay)",
            deployment_name=deployment_name,
            build_id=build_id,
            check_id=latest.id,
            failures=await failing_runs(conn, latest.id),
        )
