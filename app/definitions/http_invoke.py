"""`arn:aws:states:::http:invoke`: the server makes the request, outside any transaction.

The interpreter schedules the request as an activity on an internal queue; this loop claims
it (marking it started), calls the endpoint with httpx, and completes or fails the activity.
Targets follow the namespace's outbound rules: private and loopback addresses are refused
unless the namespace sets `allow_private_network_targets` or the server runs in development.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from app.context import ServerContext
from app.db.tables import namespaces, tasks
from app.definitions.decider import HTTP_WAKE_KEY
from app.definitions.resources import HTTP_QUEUE
from app.engine import dispatch
from app.engine.service import Engine
from app.engine.wakeups import Wakeups
from app.errors import NotFound
from app.settings import Environment

log = logging.getLogger("perdure.definitions")
IDENTITY = "perdure:http"
MAX_TIMEOUT = 60.0
FALLBACK_SECONDS = 1.0
READY_NAMESPACES = (
    sa.select(tasks.c.namespace_id)
    .where(tasks.c.kind == "activity", tasks.c.task_queue == HTTP_QUEUE)
    .distinct()
)


class TargetRefused(Exception):
    pass


async def check_target(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"ApiEndpoint must be an http(s) URL, not {url!r}")
    if allow_private:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TargetRefused(
                f"{parts.hostname} resolves to a private address ({address}); set the namespace's "
                "allow_private_network_targets to call it"
            )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


async def invoke(request: Any, seconds: float, allow_private: bool) -> dict[str, Any]:
    """The http:invoke result; raises HttpFailure for what the state must see as an error."""
    if not isinstance(request, dict) or not isinstance(request.get("ApiEndpoint"), str):
        raise HttpFailure("States.Runtime", "http:invoke needs Parameters.ApiEndpoint")
    url = request["ApiEndpoint"]
    try:
        await check_target(url, allow_private)
    except TargetRefused as exc:
        raise HttpFailure("States.Http.Socket", str(exc)) from None
    body = request.get("RequestBody")
    kwargs: dict[str, Any] = {}
    if isinstance(body, dict | list):
        kwargs["json"] = body
    elif body is not None:
        kwargs["content"] = str(body)
    try:
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
            response = await client.request(
                str(request.get("Method", "GET")).upper(),
                url,
                headers={str(k): str(v) for k, v in (request.get("Headers") or {}).items()},
                params={str(k): v for k, v in (request.get("QueryParameters") or {}).items()},
                **kwargs,
            )
    except httpx.TimeoutException as exc:
        raise HttpFailure("States.Timeout", f"{url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise HttpFailure("States.Http.Socket", f"{url}: {exc}") from None
    result = {
        "StatusCode": response.status_code,
        "StatusText": response.reason_phrase,
        "Headers": dict(response.headers),
        "ResponseBody": _body(response),
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

    async def _allow_private(self, namespace_id: str) -> bool:
        if self.ctx.settings.environment == Environment.DEVELOPMENT:
            return True
        async with self.ctx.db.read() as conn:
            settings = await conn.scalar(
                sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
            )
        return bool((settings or {}).get("allow_private_network_targets"))

    async def _claims(self, namespace_id: str) -> list[dispatch.ActivityTaskClaim]:
        claims = []
        while True:
            claim = await self.engine.transact(
                lambda tx: dispatch.claim_activity_task(tx, namespace_id, HTTP_QUEUE, IDENTITY)
            )
            if not isinstance(claim, dispatch.ActivityTaskClaim):
                return claims
            claims.append(claim)

    async def _serve(self, namespace_id: str, claim: dispatch.ActivityTaskClaim) -> None:
        body = claim.body
        timeout = min(body.get("start_to_close_timeout") or MAX_TIMEOUT, MAX_TIMEOUT)
        token = body["task_token"]
        try:
            result = await invoke(body["input"], timeout, await self._allow_private(namespace_id))
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
                except Exception:  # a bad tick must not end the loop
                    log.exception("http:invoke tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), FALLBACK_SECONDS)
