"""Stored definitions (with their state graph), task queues, and webhook endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from app.auth.roles import Permission
from app.console import graph
from app.console.web import Console, checked_form, render, signed_in
from app.definitions import aliases, store
from app.engine import reads
from app.engine.limits import MAX_COUNTER
from app.webhooks import endpoints
from app.webhooks.delivery import redeliver

router = APIRouter(prefix="/n/{namespace}")
Page = Annotated[Console, Depends(signed_in)]
LIST_LIMIT = 500
DELIVERY_PAGE = 50


@router.get("/definitions")
async def definition_list(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        rows, _ = await store.list_latest(conn, ref.id, LIST_LIMIT, None)
    return render(
        console.request, "definitions.html", console, title="Definitions", ns=ref.name, rows=rows
    )


@router.get("/definitions/{name}")
async def definition_detail(
    namespace: str,
    name: str,
    console: Page,
    version: Annotated[int | None, Query(ge=1, le=MAX_COUNTER)] = None,
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        latest = await store.get(conn, ref.id, name)
        shown = latest if version is None else await store.get(conn, ref.id, name, version)
        routed = await aliases.list_aliases(conn, ref.id, name)
    return render(
        console.request,
        "definition.html",
        console,
        title=f"Definition {name}",
        ns=ref.name,
        definition=shown,
        versions=list(range(latest["version"], 0, -1)),
        aliases=routed,
        graph=graph.layout(shown["definition"]),
    )


@router.get("/task-queues")
async def task_queue_list(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    await console.engine.pollers.flush()
    async with console.ctx.db.read() as conn:
        queues = await reads.list_task_queues(conn, ref.id)
    return render(
        console.request, "task_queues.html", console, title="Task queues", ns=ref.name, rows=queues
    )


@router.get("/task-queues/{task_queue}")
async def task_queue_detail(namespace: str, task_queue: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    await console.engine.pollers.flush()
    async with console.ctx.db.read() as conn:
        queue = await reads.describe_task_queue(conn, ref.id, task_queue, console.ctx.clock.now())
    return render(
        console.request, "task_queue.html", console, title=task_queue, ns=ref.name, queue=queue
    )


@router.get("/webhooks")
async def webhook_list(namespace: str, console: Page) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        rows, _ = await endpoints.list_endpoints(
            conn, ref.id, page_size=LIST_LIMIT, page_token=None
        )
    return render(
        console.request, "webhooks.html", console, title="Webhooks", ns=ref.name, rows=rows
    )


async def _webhook_page(
    console: Console, namespace: str, name: str, page_token: str | None, secret: str | None
) -> Response:
    ref = await console.namespace(namespace, Permission.READ)
    async with console.ctx.db.read() as conn:
        endpoint = await endpoints.get_endpoint(conn, ref.id, name)
        deliveries, token = await endpoints.list_deliveries(
            conn, endpoint["id"], page_size=DELIVERY_PAGE, page_token=page_token
        )
    return render(
        console.request,
        "webhook.html",
        console,
        title=f"Webhook {name}",
        ns=ref.name,
        endpoint=endpoint,
        headers=endpoints.redacted_headers(endpoint["headers"]),
        deliveries=deliveries,
        next_page_token=token,
        new_secret=secret,
    )


@router.get("/webhooks/{name}")
async def webhook_detail(
    namespace: str, name: str, console: Page, next_page_token: str | None = None
) -> Response:
    return await _webhook_page(console, namespace, name, next_page_token, None)


@router.post("/webhooks/{name}/rotate-secret")
async def webhook_rotate(namespace: str, name: str, console: Page) -> Response:
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    async with console.ctx.db.write() as conn:
        _, secret = await endpoints.rotate_secret(
            conn,
            ref.id,
            name,
            console.now(),
            secret=None,
            grace_seconds=86400,
            sealer=console.ctx.sealer,
        )
    # Shown once, in this answer.
    return await _webhook_page(console, namespace, name, None, secret)


@router.post("/webhooks/{name}/deliveries/{delivery_id}/redeliver")
async def webhook_redeliver(namespace: str, name: str, delivery_id: str, console: Page) -> Response:
    await checked_form(console)
    ref = await console.namespace(namespace, Permission.OPERATE)
    await redeliver(console.ctx, console.engine, ref.id, name, delivery_id)
    return RedirectResponse(f"/console/n/{ref.name}/webhooks/{name}", status_code=303)
