"""The development clock: Temporal's test-server time controls (lock, unlock, sleep, current
time) for `perdure.testing.WorkflowEnvironment`. Refused in production; the lock and the sleeps
need time-skipping mode (`perdure dev --time-skipping`)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request

from app.api.deps import Admin, Context, EngineDep, Viewer, standing_aside
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.dev_clock import DevClock, DevClockSleep, DevClockSleepUntil
from app.context import ServerContext
from app.engine.service import Engine
from app.errors import FailedPrecondition, PermissionDenied
from app.settings import Environment

router = EdgeRouter(prefix="/api/v1/dev/clock", tags=["development clock"])
ERRORS = problem_responses(401, 403, 409)


def _refuse_production(ctx: ServerContext) -> None:
    if ctx.settings.environment == Environment.PRODUCTION:
        raise PermissionDenied(
            "the development clock is refused in production (PERDURE_ENVIRONMENT=production)"
        )


def _skipping(ctx: ServerContext) -> None:
    _refuse_production(ctx)
    if not ctx.settings.time_skipping:
        raise FailedPrecondition(
            "this server runs on real time: the lock and sleeps need `perdure dev "
            "--time-skipping` (PERDURE_TIME_SKIPPING)"
        )


def _state(ctx: ServerContext, engine: Engine) -> DevClock:
    return DevClock(
        time=ctx.clock.now(),
        time_skipping=ctx.settings.time_skipping,
        lock_count=engine.time_lock.count,
    )


@router.get("", summary="The engine's current time and the time-skipping lock", responses=ERRORS)
async def get_clock(ctx: Context, engine: EngineDep, caller: Viewer) -> DevClock:
    """Temporal's `GetCurrentTime`."""
    _refuse_production(ctx)
    return _state(ctx, engine)


@router.post(
    "/lock",
    summary="Hold time skipping (the clock runs at wall-clock speed)",
    description="Temporal's `LockTimeSkipping`: a counter; time skips only when it is 0.",
    responses=ERRORS,
)
async def lock_clock(ctx: Context, engine: EngineDep, caller: Admin) -> DevClock:
    _skipping(ctx)
    engine.time_lock.lock()
    return _state(ctx, engine)


@router.post(
    "/unlock",
    summary="Release one hold on time skipping",
    description="Temporal's `UnlockTimeSkipping`; 409 when nobody holds the lock.",
    responses=ERRORS,
)
async def unlock_clock(ctx: Context, engine: EngineDep, caller: Admin) -> DevClock:
    _skipping(ctx)
    engine.time_lock.unlock()
    return _state(ctx, engine)


@router.post(
    "/unlock-with-sleep",
    summary="Release one hold, wait for `duration` seconds of engine time, hold again",
    description=(
        "Temporal's `UnlockTimeSkippingWithSleep`: the answer comes once the engine clock has "
        "moved by `duration` (skipping when nothing else holds the lock)."
    ),
    responses=problem_responses(400, 401, 403, 409),
)
async def unlock_clock_with_sleep(
    body: DevClockSleep, request: Request, ctx: Context, engine: EngineDep, caller: Admin
) -> DevClock:
    _skipping(ctx)
    target = ctx.clock.now() + timedelta(seconds=body.duration)
    engine.time_lock.unlock()
    try:
        # The tenant's other requests (the workers' answers the sleep waits for) go meanwhile.
        async with standing_aside(request):
            await engine.time_lock.sleep_until(target)
    finally:
        engine.time_lock.lock()
    return _state(ctx, engine)


@router.post(
    "/sleep-until",
    summary="Wait until the engine clock reaches a moment, without touching the lock",
    description="Temporal's `SleepUntil`: the clock skips there only when the lock is free.",
    responses=problem_responses(400, 401, 403, 409),
)
async def sleep_until(
    body: DevClockSleepUntil, request: Request, ctx: Context, engine: EngineDep, caller: Admin
) -> DevClock:
    _skipping(ctx)
    async with standing_aside(request):
        await engine.time_lock.sleep_until(body.time)
    return _state(ctx, engine)
