"""`arn:aws:states:::http:invoke`: the server makes the request, outside any transaction.

The interpreter schedules the request as an activity on an internal queue; this loop claims
it (marking it started), calls the endpoint with httpx, and completes or fails the activity.
Targets follow the webhooks' outbound rules (app.webhooks.outbound): private addresses need
the namespace's `allow_private_network_targets`, loopback also development mode; cloud
metadata addresses are always refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa

from app.context import ServerContext
from app.db.outage import report_failure
from app.db.tables import namespaces, tasks
from app.definitions.decider import HTTP_WAKE_KEY
from app.definitions.resources import HTTP_QUEUE
from app.engine.matching import dispatch
from app.engine.matching.wakeups import Wakeups
from app.engine.service import Engine
from app.errors import NotFound
from app.settings import Environment
from app.webhooks.outbound import (
    MAX_RESPONSE_BYTES,
    TargetPolicy,
    TargetUnreachable,
    check_url,
    refusal,
    resolve,
)

log = logging.getLogger("perdure.definitions")
IDENTITY = "perdure:http"
MAX_TIMEOUT = 60.0
FALLBACK_SECONDS = 1.0
CLAIM_BATCH = 50  # requests claimed per transaction
READY_NAMESPACES = (
    sa.select(tasks.c.namespace_id)
    .where(tasks.c.kind == "activity", tasks.c.task_queue == HTTP_QUEUE)
    .distinct()
)


def _body(content: bytes, content_type: str) -> Any:
    text = content.decode(errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


async def invoke(request: Any, seconds: float, policy: TargetPolicy) -> dict[str, Any]:
    """The http:invoke result; raises HttpFailure for what the state must see as an error.
    The host is resolved once and the connection goes to the address that was checked."""
    if not isinstance(request, dict) or not isinstance(request.get("ApiEndpoint"), str):
        raise HttpFailure("States.Runtime", "http:invoke needs Parameters.ApiEndpoint")
    url = request["ApiEndpoint"]
    reason = check_url(url)
    if reason:
        raise HttpFailure("States.Http.Socket", f"{url}: {reason}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except TargetUnreachable as exc:
        raise HttpFailure("States.Http.Socket", str(exc)) from None
    for address in addresses:
        why = refusal(address, policy)
        if why:
            raise HttpFailure("States.Http.Socket", f"{host} resolves to {why}")
    literal = f"[{addresses[0]}]" if addresses[0].version == 6 else str(addresses[0])
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    headers = {str(k): str(v) for k, v in (request.get("Headers") or {}).items()}
    headers["host"] = host if parts.port is None else f"{host}:{parts.port}"
    body = request.get("RequestBody")
    content: bytes | None = None
    if isinstance(body, dict | list):
        content = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    elif body is not None:
        content = str(body).encode()
    try:
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=seconds
        ) as client:
            built = client.build_request(
                str(request.get("Method", "GET")).upper(),
                pinned,
                params={str(k): v for k, v in (request.get("QueryParameters") or {}).items()},
                headers=headers,
                content=content,
                extensions={"sni_hostname": host},
            )
            response = await client.send(built, stream=True)
            try:
                received = b""
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) > MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
    except httpx.TimeoutException as exc:
        raise HttpFailure("States.Timeout", f"{url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise HttpFailure("States.Http.Socket", f"{url}: {type(exc).__name__}: {exc}") from None
    result = {
        "StatusCode": response.status_code,
        "StatusText": response.reason_phrase,
        "Headers": dict(response.headers),
        "ResponseBody": _body(
            received[:MAX_RESPONSE_BYTES], response.headers.get("content-type", "")
        ),
    }
    if not 200 <= response.status_code < 300:
        raise HttpFailure(
            f"States.Http.StatusCode.{response.status_code}", str(result["ResponseBody"])
        )
    return result


class HttpFailure(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(cause)
        self.error = error
        self.cause = cause


class HttpInvokeLoop:
    def __init__(self, ctx: ServerContext, engine: Engine, wakeups: Wakeups) -> None:
        self.ctx = ctx
        self.engine = engine
        self.wakeups = wakeups

    async def _policy(self, namespace_id: str) -> TargetPolicy:
        async with self.ctx.db.read() as conn:
            settings = await conn.scalar(
                sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
            )
        return TargetPolicy(
            allow_private=bool((settings or {}).get("allow_private_network_targets")),
            allow_loopback=self.ctx.settings.environment == Environment.DEVELOPMENT,
        )

    async def _claims(self, namespace_id: str) -> list[dispatch.ActivityTaskClaim]:
        claims: list[dispatch.ActivityTaskClaim] = []
        while True:
            batch = await self.engine.transact(
                lambda tx: dispatch.claim_activity_tasks(
                    tx, namespace_id, HTTP_QUEUE, IDENTITY, CLAIM_BATCH
                )
            )
            if not isinstance(batch, list) or not batch:
                return claims
            claims.extend(batch)

    async def _serve(self, namespace_id: str, claim: dispatch.ActivityTaskClaim) -> None:
        body = claim.body
        timeout = min(body.get("start_to_close_timeout") or MAX_TIMEOUT, MAX_TIMEOUT)
        token = body["task_token"]
        outcome: Awaitable[object]
        try:
            result = await invoke(body["input"], timeout, await self._policy(namespace_id))
        except HttpFailure as failure:
            outcome = self.engine.fail_activity(
                namespace_id,
                {"message": failure.cause, "type": failure.error, "non_retryable": True},
                IDENTITY,
                token=token,
            )
        else:
            outcome = self.engine.complete_activity(namespace_id, result, IDENTITY, token=token)
        with contextlib.suppress(NotFound):  # the run closed or the attempt timed out meanwhile
            await outcome

    async def tick(self) -> int:
        """Claim every ready request and make them all; returns how many."""
        async with self.ctx.db.read() as conn:
            namespace_ids = list((await conn.execute(READY_NAMESPACES)).scalars())
        work = [
            (namespace_id, claim)
            for namespace_id in namespace_ids
            for claim in await self._claims(namespace_id)
        ]
        await asyncio.gather(*(self._serve(ns, claim) for ns, claim in work))
        return len(work)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            async with self.wakeups.waiting(HTTP_WAKE_KEY) as woken:
                try:
                    await self.tick()
                except Exception as exc:  # a bad tick must not end the loop
                    report_failure(log, "http:invoke tick", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), FALLBACK_SECONDS)
