"""Worker deployments (issue 21): the namespace's deployments, a deployment's versions with their
status, pollers, open runs per behaviour and drainage, and the routing changes (set current,
ramp) behind a confirmation page, refused exactly as the API refuses them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from app.auth.roles import Permission
from app.console import versioning_labels
from app.console.web import Console, checked_form, render, signed_in
from app.engine.transition import Transition
from app.engine.versioning import deployments, promotion, replay_checks
from app.errors import InvalidArgument, PerdureError

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
LIST_LIMIT = 500
# Every routing change is an admin action (issue 21), as on the API.
ROUTE = Permission.MANAGE
OVERRIDES = ("allow_no_pollers", "ignore_missing_task_queues", "ignore_replay_check")
Percentage = Annotated[float, Query(ge=0, le=100)]
SAMPLE_SIZE = 100  # the API's default sample of a replay check


def _page(name: str, namespace: str) -> str:
    return f"/console/n/{namespace}/deployments/{quote(name, safe='')}"


@router.get("/deployments")
async def deployment_list(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        listed = await deployments.list_deployments(conn, ref.id, LIST_LIMIT, None)
    return render(
        console.request,
        "deployments.html",
        console,
        title="Worker deployments",
        ns=ref.name,
        rows=listed["worker_deployments"],
    )


@router.get("/deployments/{name}")
async def deployment_detail(namespace: str, name: str, console: Page) -> Response:
    """The deployment and, for each of its versions (at most 100), its describe: pollers,
    task queues, open runs per behaviour and drainage."""
    ref = await console.namespace(namespace, Permission.READ)
    now = console.now()
    await console.engine.pollers.flush()
    async with console.ctx.db.read() as conn:
        described = await deployments.describe_deployment(conn, ref.id, name)
        versions = [
            await deployments.describe_version(conn, ref.id, name, v["version"]["build_id"], now)
            for v in described["worker_deployment_info"]["version_summaries"]
        ]
    for version in versions:
        build_id = version["worker_deployment_version_info"]["version"]["build_id"]
        version["replay_check"] = await _latest_check(console, ref.id, name, build_id)
    return render(
        console.request,
        "deployment.html",
        console,
        title=f"Worker deployment {name}",
        ns=ref.name,
        deployment=described,
        versions=versions,
        can_route=console.can(ROUTE),
    )


async def _latest_check(
    console: Console, namespace_id: str, name: str, build_id: str
) -> dict[str, Any] | None:
    """The version's newest replay check with its progress and failing runs; None if none."""
    listed = await replay_checks.list_checks(console.engine, namespace_id, name, build_id, 1, None)
    if not listed["checks"]:
        return None
    check_id = listed["checks"][0]["check_id"]
    return await replay_checks.describe(console.engine, namespace_id, name, build_id, check_id)


@router.post("/deployments/{name}/versions/{build_id}/replay-check")
async def start_replay_check(namespace: str, name: str, build_id: str, console: Page) -> Response:
    """Start a replay check of the version (the sample size and filter of the API's
    defaults): its progress shows on the deployment's page."""
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await replay_checks.start(
        console.engine,
        ref.id,
        name,
        build_id,
        sample_size=SAMPLE_SIZE,
        query=None,
        identity=console.principal.key_name,
    )
    return RedirectResponse(_page(name, ref.name), status_code=303)


@router.get("/deployments/{name}/versions/{build_id}/replay-check")
async def replay_check_progress(
    namespace: str, name: str, build_id: str, console: Page
) -> Response:
    """The version's latest check alone: what the page reloads every 2 s while it runs."""
    ref = await console.namespace(namespace, Permission.READ)
    return render(
        console.request,
        "replay_check.html",
        console,
        ns=ref.name,
        base=_page(name, ref.name),
        build=build_id,
        check=await _latest_check(console, ref.id, name, build_id),
    )


def _change(name: str, build_id: str, percentage: float | None) -> str:
    target = versioning_labels.version_label({"deployment_name": name, "build_id": build_id})
    if percentage is None:
        return f"make {target} the current version of {name}"
    if percentage == 0 and not build_id:
        return f"stop ramping new runs of {name}"
    return f"ramp {versioning_labels.percent(percentage)} of new runs of {name} to {target}"


async def _confirmation(
    console: Console,
    namespace: str,
    name: str,
    build_id: str,
    percentage: float | None,
    *,
    problem: PerdureError | None = None,
    checked: dict[str, bool] | None = None,
) -> Response:
    """The confirmation page of a routing change: what routes now, what will, the checks one
    may override, and the conflict token of the routing shown (so that a change made by someone
    else meanwhile is refused rather than overwritten). With `problem`: why it was refused."""
    ref = await console.namespace(namespace, ROUTE)
    async with console.ctx.db.read() as conn:
        described = await deployments.describe_deployment(conn, ref.id, name)
    return render(
        console.request,
        "deployment_confirm.html",
        console,
        status_code=problem.status if problem else 200,
        title="Set the ramping version" if percentage is not None else "Set the current version",
        ns=ref.name,
        name=name,
        action="set-ramping" if percentage is not None else "set-current",
        build_id=build_id,
        percentage=percentage,
        change=_change(name, build_id, percentage),
        routing=described["worker_deployment_info"]["routing_config"],
        conflict_token=described["conflict_token"],
        checked=checked or {},
        problem=versioning_labels.problem_view(problem) if problem else None,
    )


@router.get("/deployments/{name}/set-current")
async def set_current_confirm(
    namespace: str, name: str, console: Page, build_id: Annotated[str, Query(max_length=255)] = ""
) -> Response:
    return await _confirmation(console, namespace, name, build_id, None)


@router.get("/deployments/{name}/set-ramping")
async def set_ramping_confirm(
    namespace: str,
    name: str,
    console: Page,
    percentage: Percentage,
    build_id: Annotated[str, Query(max_length=255)] = "",
) -> Response:
    return await _confirmation(console, namespace, name, build_id, percentage)


async def _route(console: Console, namespace: str, name: str, ramping: bool) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, ROUTE)
    build_id = str(form.get("build_id") or "").strip()
    percentage: float | None = None
    if ramping:
        try:
            percentage = float(str(form.get("percentage") or ""))
        except ValueError:
            raise InvalidArgument("percentage is not a number", field="percentage") from None
    checked = {flag: bool(form.get(flag)) for flag in OVERRIDES}
    checks = promotion.PromotionChecks(
        conflict_token=str(form.get("conflict_token") or "") or None,
        identity=console.principal.key_name,
        **checked,
    )

    async def change(tx: Transition) -> dict[str, Any]:
        if percentage is None:
            return await promotion.set_current_version(tx, ref.id, name, build_id, checks)
        return await promotion.set_ramping_version(tx, ref.id, name, build_id, percentage, checks)

    try:
        await console.engine.transact(change)
    except PerdureError as refused:
        if refused.status != 409:
            raise
        return await _confirmation(
            console, namespace, name, build_id, percentage, problem=refused, checked=checked
        )
    return RedirectResponse(_page(name, ref.name), status_code=303)


@router.post("/deployments/{name}/set-current")
async def set_current(namespace: str, name: str, console: Page) -> Response:
    return await _route(console, namespace, name, ramping=False)


@router.post("/deployments/{name}/set-ramping")
async def set_ramping(namespace: str, name: str, console: Page) -> Response:
    return await _route(console, namespace, name, ramping=True)
