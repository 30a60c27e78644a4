"""Namespaces and API keys of the signed-in tenant: the same tenancy functions as the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from app.auth.roles import Permission, Role
from app.console.web import Console, checked_form, render, signed_in
from app.errors import InvalidArgument, PermissionDenied
from app.tenancy import api_keys, namespaces
from app.tenancy.namespaces import DEFAULT_RETENTION_DAYS

router = APIRouter()
Page = Annotated[Console, Depends(signed_in)]
LIST_LIMIT = 500


def _int(value: object, field: str, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidArgument(f"{field} must be a whole number", field=field) from None
    if not low <= number <= high:
        raise InvalidArgument(f"{field} must be between {low} and {high}", field=field)
    return number


@router.get("/namespaces")
async def namespace_list(console: Page) -> Response:
    console.principal.require(Permission.VIEW)
    async with console.ctx.db.read() as conn:
        rows, _ = await namespaces.list_namespaces(
            conn, console.principal, page_size=LIST_LIMIT, page_token=None
        )
    return render(console.request, "namespaces.html", console, title="Namespaces", rows=rows)


@router.post("/namespaces")
async def namespace_create(console: Page) -> Response:
    form = await checked_form(console)
    console.principal.require(Permission.MANAGE)
    if console.principal.namespace_ids is not None:
        raise PermissionDenied("a key scoped to some namespaces cannot create namespaces")
    async with console.ctx.db.write() as conn:
        row = await namespaces.create_namespace(
            conn,
            tenant_id=console.principal.tenant_id,
            name=str(form.get("name", "")).strip(),
            description=str(form.get("description", ""))[:10_000],
            retention_days=_int(
                form.get("retention_days") or DEFAULT_RETENTION_DAYS, "retention_days", 1, 3650
            ),
            settings={},
            now=console.now(),
        )
    return RedirectResponse(f"/console/namespaces/{row.name}", status_code=303)


@router.get("/namespaces/{namespace}")
async def namespace_detail(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.VIEW)
    async with console.ctx.db.read() as conn:
        row = await namespaces.get_namespace(conn, ref.tenant_id, ref.name)
    return render(console.request, "namespace.html", console, title=f"Namespace {ref.name}", ns=row)


@router.post("/namespaces/{namespace}")
async def namespace_update(namespace: str, console: Page) -> Response:
    form = await checked_form(console)
    ref = await console.namespace(namespace, Permission.MANAGE)
    changes = {
        "description": str(form.get("description", ""))[:10_000],
        "retention_days": _int(form.get("retention_days"), "retention_days", 1, 3650),
        "settings": {"allow_private_network_targets": form.get("allow_private") == "on"},
    }
    async with console.ctx.db.write() as conn:
        await namespaces.update_namespace(conn, ref.tenant_id, ref.name, changes, console.now())
    console.ctx.auth_cache.forget_namespace(ref.tenant_id, ref.name)
    return RedirectResponse(f"/console/namespaces/{ref.name}?saved=1", status_code=303)


async def _keys_page(console: Console, created: tuple | None = None) -> Response:
    async with console.ctx.db.read() as conn:
        listed, _ = await api_keys.list_api_keys(
            conn,
            console.principal.tenant_id,
            page_size=LIST_LIMIT,
            page_token=None,
            scope=console.principal.namespace_ids,
        )
        rows = await api_keys.shown_keys(conn, console.principal.tenant_id, listed)
        names, _ = await namespaces.list_namespaces(
            conn, console.principal, page_size=LIST_LIMIT, page_token=None
        )
    return render(
        console.request,
        "api_keys.html",
        console,
        title="API keys",
        rows=rows,
        namespace_names=[n.name for n in names],
        roles=[r.value for r in Role],
        created=created,
    )


@router.get("/api-keys")
async def key_list(console: Page) -> Response:
    console.principal.require(Permission.MANAGE)
    return await _keys_page(console)


@router.post("/api-keys")
async def key_create(console: Page) -> Response:
    form = await checked_form(console)
    console.principal.require(Permission.MANAGE)
    try:
        role = Role(str(form.get("role", "")))
    except ValueError:
        raise InvalidArgument("choose a role", field="role") from None
    scoped = form.get("scope") == "some"
    expires_at = None
    if form.get("expires_at"):
        try:
            expires_at = datetime.fromisoformat(str(form["expires_at"]))
        except ValueError:
            raise InvalidArgument("expires_at is not a date", field="expires_at") from None
        if expires_at.tzinfo is None:
            from datetime import UTC

            expires_at = expires_at.replace(tzinfo=UTC)
    name = str(form.get("name", "")).strip()
    if not 1 <= len(name) <= 200:
        raise InvalidArgument("give the key a name of 1-200 characters", field="name")
    async with console.ctx.db.write() as conn:
        row, secret = await api_keys.create_api_key(
            conn,
            tenant_id=console.principal.tenant_id,
            name=name,
            role=role,
            namespace_names=[str(n) for n in form.getlist("namespaces")] if scoped else None,
            expires_at=expires_at,
            now=console.now(),
            creator_scope=console.principal.namespace_ids,
        )
    # The secret is shown in this answer only, never stored or put in a URL.
    return await _keys_page(console, created=(row, secret))


@router.post("/api-keys/{key_id}/revoke")
async def key_revoke(key_id: str, console: Page) -> Response:
    await checked_form(console)
    console.principal.require(Permission.MANAGE)
    async with console.ctx.db.write() as conn:
        await api_keys.revoke_api_key(
            conn,
            console.principal.tenant_id,
            key_id,
            console.now(),
            console.principal.namespace_ids,
        )
    console.ctx.auth_cache.forget_key(key_id)
    return RedirectResponse("/console/api-keys", status_code=303)
