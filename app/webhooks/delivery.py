"""One delivery: sign, POST outside any transaction, report the outcome to the engine, log it.

Outcomes go through the engine's own paths (complete or fail by task token), so retries,
back-off and timeouts are the activity's, and an attempt that timed out or whose run closed
meanwhile is not changed by a late answer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.context import ServerContext
from app.db.tables import timers, webhook_deliveries
from app.engine import activities
from app.engine.service import Engine
from app.engine.transition import Transition
from app.errors import FailedPrecondition, NotFound, PerdureError
from app.settings import Environment
from app.webhooks import endpoints as service
from app.webhooks.answers import Outcome, classify, excerpt, failure
from app.webhooks.claims import Claimed, attempt_deadline, log_delivery
from app.webhooks.outbound import TargetPolicy, TargetRefused, TargetUnreachable, post
from app.webhooks.signing import signature_headers

MIN_TIMEOUT = 0.5

log = logging.getLogger("perdure.webhooks")


def target_policy(ctx: ServerContext, namespace_settings: dict[str, Any] | None) -> TargetPolicy:
    return TargetPolicy(
        allow_private=bool((namespace_settings or {}).get("allow_private_network_targets")),
        allow_loopback=ctx.settings.environment == Environment.DEVELOPMENT,
    )


async def deliver(
    ctx: ServerContext, engine: Engine, endpoint: Any, claimed: Claimed, policy: TargetPolicy
) -> str:
    """Send one claimed delivery and settle it; returns the delivery's final state."""
    now = ctx.clock.now()
    timeout = endpoint["timeout"]
    if claimed.deadline is not None:
        timeout = min(timeout, (claimed.deadline - now).total_seconds())
    # The receiver checks the timestamp against its own clock, so it is real time even when
    # the engine's clock has been moved (time-skipping, tests).
    signed = signature_headers(
        claimed.message_id,
        datetime.now(UTC),
        claimed.body,
        service.signing_secrets(endpoint, now, ctx.sealer),
    )
    status_code = latency = response_excerpt = None
    try:
        answer = await post(
            endpoint["url"],
            claimed.body,
            {
                **service.outgoing_headers(endpoint["headers"], ctx.sealer),
                **signed,
                **({"traceparent": claimed.traceparent} if claimed.traceparent else {}),
            },
            policy=policy,
            seconds=max(timeout, MIN_TIMEOUT),
        )
    except TargetRefused as exc:
        outcome = Outcome(
            "refused",
            failure=failure(
                f"webhook target refused: {exc}", "WebhookTargetRefused", non_retryable=True
            ),
        )
    except TargetUnreachable as exc:
        outcome = Outcome(
            "failed",
            failure=failure(
                f"webhook unreachable: {exc}", "WebhookUnreachable", non_retryable=False
            ),
        )
    else:
        status_code, latency = answer.status_code, answer.latency_ms
        response_excerpt = excerpt(answer.body)
        outcome = classify(
            answer, retry_client_errors=endpoint["retry_client_errors"], now=ctx.clock.now()
        )
    if outcome.disable_reason:
        async with ctx.db.write() as conn:
            await service.disable_endpoint(
                conn, endpoint["id"], outcome.disable_reason, ctx.clock.now()
            )
    ctx.metrics.webhook_deliveries.labels(outcome.state).inc()
    if latency is not None:
        ctx.metrics.webhook_latency.observe(latency / 1000)
    note = await settle(engine, endpoint, claimed, outcome)
    error = outcome.failure["message"] if outcome.failure is not None else None
    if outcome.state not in ("completed", "accepted"):
        log.warning(
            "webhook delivery %s: %s",
            outcome.state,
            f"HTTP {status_code}" if status_code is not None else (error or "no answer"),
            extra={"endpoint": endpoint["name"], "outcome": outcome.state, "status": status_code},
        )
    if note:
        error = f"{error}; {note}" if error else note
    async with ctx.db.write() as conn:
        await conn.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == claimed.delivery_id)
            .values(
                state=outcome.state,
                finished_at=ctx.clock.now(),
                status_code=status_code,
                latency_ms=latency,
                error=error,
                response_excerpt=response_excerpt,
            )
        )
    return outcome.state


async def settle(engine: Engine, endpoint: Any, claimed: Claimed, outcome: Outcome) -> str | None:
    """Report the outcome to the engine; returns a note when the engine would not take it."""
    namespace_id = endpoint["namespace_id"]
    identity = f"webhook:{endpoint['name']}"
    try:
        if outcome.state == "completed":
            try:
                await engine.complete_activity(
                    namespace_id, outcome.result, identity, token=claimed.task_token
                )
            except NotFound:
                raise
            except PerdureError as exc:  # e.g. a result over the payload limit
                await engine.fail_activity(
                    namespace_id,
                    failure(exc.detail, "WebhookInvalidResponse", non_retryable=True),
                    identity,
                    token=claimed.task_token,
                )
                return f"the result was refused: {exc.detail}"
        elif outcome.failure is not None:
            await engine.fail_activity(
                namespace_id, outcome.failure, identity, token=claimed.task_token
            )
            if outcome.retry_after:
                seconds = outcome.retry_after
                await engine.transact(lambda tx: defer_retry(tx, claimed, seconds))
    except NotFound as exc:
        return f"the answer was not recorded: {exc.detail}"
    return None


async def defer_retry(tx: Transition, claimed: Claimed, seconds: float) -> None:
    """Honour `Retry-After`: the next attempt waits at least that long. A crash between the
    failure and this leaves the policy's back-off, which is still a valid retry."""
    body = orjson.loads(claimed.body)
    ref = body["scheduled_event_id"]
    run = await tx.run(body["run_id"])
    activity = await activities.get(tx, run.id, ref)
    if (
        not run.is_open
        or activity is None
        or activity["state"] != "backoff"
        or activity["attempt"] != body["attempt"] + 1
    ):
        return
    planned = await tx.conn.scalar(
        sa.select(sa.func.max(timers.c.fire_at)).where(
            timers.c.run_id == run.id,
            timers.c.kind == activities.TIMER_RETRY,
            timers.c.ref == ref,
        )
    )
    wanted = tx.now + timedelta(seconds=seconds)
    if planned is not None and planned >= wanted:
        return
    await tx.cancel_timers(run, activities.TIMER_RETRY, ref=ref)
    await tx.add_timer(run, activities.TIMER_RETRY, wanted, ref=ref, attempt=activity["attempt"])


async def redeliver(
    ctx: ServerContext, engine: Engine, namespace_id: str, endpoint_name: str, delivery_id: str
) -> str:
    """Send a logged delivery again, only while the attempt it carried is still running
    (e.g. accepted with 202 and never completed). Returns the new delivery's id."""
    async with ctx.db.read() as conn:
        endpoint = await service.get_endpoint(conn, namespace_id, endpoint_name)
        original = await service.get_delivery(conn, endpoint["id"], delivery_id)
        settings = await service.namespace_settings(conn, namespace_id)
    if not endpoint["enabled"]:
        raise FailedPrecondition(f"webhook '{endpoint_name}' is disabled; enable it first")

    async def log_again(tx: Transition) -> Claimed:
        run = await tx.run(original["run_id"])
        activity = await activities.get(tx, run.id, original["scheduled_event_id"])
        if (
            not run.is_open
            or activity is None
            or activity["attempt"] != original["attempt"]
            or activity["state"] != "started"
        ):
            raise FailedPrecondition(
                "the activity attempt this delivery carried is no longer running; "
                "a later attempt, if any, is delivered by itself",
                delivery=delivery_id,
            )
        return await log_delivery(
            tx,
            endpoint,
            orjson.loads(original["request_body"]),
            message_id=original["message_id"],
            deadline=attempt_deadline(activity, activity["started_time"]),
        )

    claimed = await engine.transact(log_again)
    await deliver(ctx, engine, endpoint, claimed, target_policy(ctx, settings))
    return claimed.delivery_id
