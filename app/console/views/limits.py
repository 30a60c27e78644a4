"""The Limits page: the namespace's per-key concurrency limits, with forms to create, change,
pause, resume and delete them — held to the rules of `PUT/DELETE …/concurrency-limits/{name}`
(the same request model, the same permission, the same engine functions)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from app.api.schemas.flow_control import (
    LIMIT_NAME_MAX,
    LIMIT_NAME_PATTERN,
    AppliesTo,
    ConcurrencyLimitBody,
    Strategy,
)
from app.auth.roles import Permission
from app.console.web import Console, checked_form, render, signed_in, validated
from app.engine import concurrency_admin
from app.errors import InvalidArgument

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]


def _text(form: Any, name: str) -> str:
    return str(form.get(name) or "").strip()


def _checked_name(name: str) -> str:
    """The limit's name under the route's rule; InvalidArgument otherwise."""
    if not 0 < len(name) <= LIMIT_NAME_MAX or not re.fullmatch(LIMIT_NAME_PATTERN, name):
        raise InvalidArgument(
            f"a limit's name has 1 to {LIMIT_NAME_MAX} letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return name


def _to_list(namespace: str) -> RedirectResponse:
    return RedirectResponse(f"/console/n/{quote(namespace, safe='')}/concurrency-limits", 303)


@router.get("/concurrency-limits")
async def concurrency_limit_list(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        rows = await concurrency_admin.list_all(conn, ref.id)
    return render(
        console.request,
        "concurrency_limits.html",
        console,
        title="Concurrency limits",
        ns=ref.name,
        rows=rows,
        applies_to=[a.value for a in AppliesTo],
        strategies=[s.value for s in Strategy],
    )


@router.post("/concurrency-limits")
async def concurrency_limit_put(namespace: str, console: Page) -> Response:
    """Create the limit the form names, or change it (as `PUT …/concurrency-limits/{name}`:
    changing what it counts is refused with 409)."""
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    name = _checked_name(_text(form, "name"))
    body = validated(
        ConcurrencyLimitBody,
        {
            "applies_to": _text(form, "applies_to"),
            "key": _text(form, "key"),
            "max_running": _text(form, "max_running"),
            "strategy": _text(form, "strategy") or Strategy.GROUP_ROUND_ROBIN.value,
            "paused": form.get("paused") == "on",
        },
    )
    spec = body.model_dump(mode="json")
    await console.engine.transact(lambda tx: concurrency_admin.put(tx, ref.id, name, spec))
    return _to_list(ref.name)


@router.post("/concurrency-limits/{name}/pause")
async def concurrency_limit_pause(namespace: str, name: str, console: Page) -> Response:
    return await _set_paused(namespace, name, console, paused=True)


@router.post("/concurrency-limits/{name}/resume")
async def concurrency_limit_resume(namespace: str, name: str, console: Page) -> Response:
    return await _set_paused(namespace, name, console, paused=False)


async def _set_paused(namespace: str, name: str, console: Console, *, paused: bool) -> Response:
    """Pause (nothing more is dispatched under it) or resume (waiters take free slots)."""
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)

    async def change(tx: Any) -> None:
        current = await concurrency_admin.get(tx.conn, ref.id, name)
        spec = {k: current[k] for k in ("applies_to", "key", "max_running", "strategy")}
        await concurrency_admin.put(tx, ref.id, name, {**spec, "paused": paused})

    await console.engine.transact(change)
    return _to_list(ref.name)


@router.post("/concurrency-limits/{name}/delete")
async def concurrency_limit_delete(namespace: str, name: str, console: Page) -> Response:
    """Remove the limit; what waited for it goes on at once."""
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await console.engine.transact(lambda tx: concurrency_admin.delete(tx, ref.id, name))
    return _to_list(ref.name)
