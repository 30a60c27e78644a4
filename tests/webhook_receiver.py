"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers with
whatever the test's handler says."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


Handler = Callable[[Received], Awaitable[Response]]


async def ok(received: Received) -> Response:
    return JSONResponse({"echo": received.json["input"]})


class Receiver:
    def __init__(self, handler: Handler = ok, port: int | None = None) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.requests: list[Received] = []
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _endpoint(self, request: Request) -> Response:
        received = Received(
            path=request.url.path, headers=dict(request.headers), body=await request.body()
        )
        async with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
        return await self.handler(received)

    async def nth_request(self, n: int, wait: float = 10) -> Received:
        """The n-th request (1-based), waiting for it at most `wait` seconds."""
        deadline = time.monotonic() + wait
        async with self._arrived:
            while len(self.requests) < n:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"expected {n} request(s), got {len(self.requests)}"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.requests[n - 1]


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = Starlette(routes=[Route("/{path:path}", receiver._endpoint, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
