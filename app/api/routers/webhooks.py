"""Webhook endpoints of a namespace and their delivery logs. Managing them needs `operate`;
reading them needs `read`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response, status

from app.api.deps import NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.webhooks import (
    Delivery,
    DeliveryPage,
    RotateSecret,
    Webhook,
    WebhookCreate,
    WebhookPage,
    WebhookUpdate,
    WebhookWithSecret,
)
from app.webhooks import endpoints as service
from app.webhooks.delivery import redeliver
from app.webhooks.loop import ENDPOINTS_KEY

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}/webhooks", tags=["webhooks"])

WebhookName = Annotated[str, Path(min_length=1, max_length=200, description="Webhook name")]
DeliveryId = Annotated[str, Path(min_length=1, max_length=36, description="Delivery id")]


def _webhook(row: Any) -> Webhook:
    return Webhook.model_validate({**row, "headers": service.redacted_headers(row["headers"])})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a webhook endpoint; its signing secret is returned once, in `secret`",
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def create_webhook(body: WebhookCreate, caller: NamespaceOperator) -> WebhookWithSecret:
    fields = body.model_dump()
    fields["url"] = str(body.url)
    async with caller.ctx.db.write() as conn:
        row, secret = await service.create_endpoint(
            conn, caller.namespace.id, fields, caller.ctx.clock.now(), caller.ctx.sealer
        )
    caller.engine.wakeups.notify([ENDPOINTS_KEY])
    return WebhookWithSecret.model_validate({**_webhook(row).model_dump(), "secret": secret})


@router.get(
    "",
    summary="List the namespace's webhook endpoints",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_webhooks(
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> WebhookPage:
    async with caller.ctx.db.read() as conn:
        rows, token = await service.list_endpoints(
            conn, caller.namespace.id, page_size=page_size, page_token=next_page_token
        )
    return WebhookPage(webhooks=[_webhook(r) for r in rows], next_page_token=token)


@router.get(
    "/{name}",
    summary="Describe a webhook endpoint (without its secret)",
    responses=problem_responses(401, 403, 404),
)
async def get_webhook(name: WebhookName, caller: NamespaceReader) -> Webhook:
    async with caller.ctx.db.read() as conn:
        return _webhook(await service.get_endpoint(conn, caller.namespace.id, name))


@router.patch(
    "/{name}",
    summary="Change a webhook endpoint (URL, bindings, timeout, headers, enabled, …)",
    responses=problem_responses(400, 401, 403, 404),
)
async def update_webhook(
    name: WebhookName,
    body: WebhookUpdate,
    caller: NamespaceOperator,
) -> Webhook:
    changes = body.model_dump(exclude_unset=True)
    if body.url is not None:
        changes["url"] = str(body.url)
    async with caller.ctx.db.write() as conn:
        row = await service.update_endpoint(
            conn, caller.namespace.id, name, changes, caller.ctx.clock.now(), caller.ctx.sealer
        )
    caller.engine.wakeups.notify([ENDPOINTS_KEY])
    return _webhook(row)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint and its delivery log",
    responses=problem_responses(401, 403, 404),
)
async def delete_webhook(name: WebhookName, caller: NamespaceOperator) -> Response:
    async with caller.ctx.db.write() as conn:
        await service.delete_endpoint(conn, caller.namespace.id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{name}/rotate-secret",
    summary="Rotate the signing secret; the previous one keeps signing for a grace period",
    responses=problem_responses(400, 401, 403, 404),
)
async def rotate_webhook_secret(
    name: WebhookName, body: RotateSecret, caller: NamespaceOperator
) -> WebhookWithSecret:
    async with caller.ctx.db.write() as conn:
        row, secret = await service.rotate_secret(
            conn,
            caller.namespace.id,
            name,
            caller.ctx.clock.now(),
            secret=body.secret,
            grace_seconds=body.grace_period,
            sealer=caller.ctx.sealer,
        )
    return WebhookWithSecret.model_validate({**_webhook(row).model_dump(), "secret": secret})


@router.get(
    "/{name}/deliveries",
    summary="The endpoint's delivery log, newest first",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_deliveries(
    name: WebhookName,
    caller: NamespaceReader,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> DeliveryPage:
    async with caller.ctx.db.read() as conn:
        endpoint = await service.get_endpoint(conn, caller.namespace.id, name)
        rows, token = await service.list_deliveries(
            conn, endpoint["id"], page_size=page_size, page_token=next_page_token
        )
    return DeliveryPage(
        deliveries=[Delivery.model_validate(dict(r)) for r in rows], next_page_token=token
    )


@router.post(
    "/{name}/deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again while the activity attempt it carried is still running",
    responses=problem_responses(401, 403, 404, 409),
)
async def redeliver_delivery(
    name: WebhookName,
    delivery_id: DeliveryId,
    caller: NamespaceOperator,
) -> Delivery:
    new_id = await redeliver(caller.ctx, caller.engine, caller.namespace.id, name, delivery_id)
    async with caller.ctx.db.read() as conn:
        endpoint = await service.get_endpoint(conn, caller.namespace.id, name)
        row = await service.get_delivery(conn, endpoint["id"], new_id)
    return Delivery.model_validate(dict(row))
