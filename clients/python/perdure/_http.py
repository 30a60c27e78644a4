"""The SDK's way to the server: one `Http` per client, its connection pools and transport,
the calls' retries while the server is unreachable, and problem answers turned into typed
errors. On a plain-`http://` server calls take the lean transport (perdure._transport)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import timedelta
from json import dumps as json_dumps
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from perdure._transport import LeanTransport
from perdure.exceptions import ConnectError, RPCError, WorkflowAlreadyStartedError

# About a minute of back-off for a read while the server is unreachable.
READ_RETRIES = 16
POOLS = 8
# Parsed URLs kept (the routes a worker calls all along, and the latest workflow ids).
MAX_CACHED_URLS = 1024


def segment(value: Any) -> str:
    """`value` as one URL path segment that the server decodes back to exactly `value`: every
    character but letters, digits and `-._~` percent-encoded (`/`, `?`, `#`, `%`, spaces,
    unicode...), and a segment of dots spelled `%2E`, which URL normalisation would drop."""
    text = str(value)
    if not text:
        raise ValueError("an id or name in a URL path must not be empty")
    if text.strip(".") == "":
        return "%2E" * len(text)
    return quote(text, safe="")


def lean_transport_fits(address: str) -> bool:
    """Whether calls to `address` may take the lean transport: plain http, and no proxy
    setting (HTTP_PROXY, ALL_PROXY, unless NO_PROXY exempts the host) that httpx would
    honour by routing the calls through the proxy instead."""
    parts = urlsplit(address)
    if parts.scheme != "http":
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.netloc))


class Http:
    """The JSON-over-HTTP layer shared by the client and the worker."""

    def __init__(
        self,
        address: str,
        api_key: str | None,
        namespace: str,
        rpc_metadata: Mapping[str, str] | None = None,
    ) -> None:
        headers = dict(rpc_metadata or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.address = address.rstrip("/")
        self.namespace = namespace
        self._prefix = f"/api/v1/namespaces/{segment(namespace)}"
        self._lean: LeanTransport | None = None
        if lean_transport_fits(self.address):
            # One client on the lean transport (perdure._transport): it keeps idle connections
            # in a stack and checks none of them per request, so one pool serves every call;
            # `send` hands it requests directly.
            self._lean = LeanTransport()
            lean = self._pool(address, headers, self._lean)
            self._pools = self._long_pools = [lean]
            self._headers = list(lean.headers.multi_items())
            json_headers = httpx.Headers(self._headers)
            json_headers.setdefault("Content-Type", "application/json")
            self._json_headers = list(json_headers.multi_items())
            self._timeout = lean.timeout.as_dict()
            self._urls: dict[str, httpx.URL] = {}
        else:
            # httpx's own transport (TLS, proxies): several small pools, used in turn, since
            # httpcore scans (and polls the socket of) every connection of a pool on each
            # request. Long polls (results, worker polls, queries) have pools of their own.
            self._pools = [self._pool(address, headers) for _ in range(POOLS)]
            self._long_pools = [self._pool(address, headers) for _ in range(POOLS)]
        self._turn = 0

    @property
    def client(self) -> httpx.AsyncClient:
        """A connection pool for short calls (the next in turn)."""
        self._turn += 1
        return self._pools[self._turn % len(self._pools)]

    @property
    def long_client(self) -> httpx.AsyncClient:
        """A connection pool for long polls (the next in turn)."""
        self._turn += 1
        return self._long_pools[self._turn % len(self._long_pools)]

    @staticmethod
    def _pool(
        address: str, headers: dict[str, str], transport: httpx.AsyncBaseTransport | None = None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=address.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(90.0, connect=5.0),
            # Below uvicorn's 5 s keep-alive, so a reused connection is never one it is closing.
            limits=httpx.Limits(
                max_connections=500, max_keepalive_connections=500, keepalive_expiry=4.0
            ),
            transport=transport,
        )

    def ns(self, path: str) -> str:
        """The URL path of a route inside the namespace."""
        return self._prefix + path

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: timedelta | None = None,  # noqa: ASYNC109 - httpx's per-request timeout
        long: bool = False,
    ) -> httpx.Response:
        """One request to a route inside the namespace, as `httpx.AsyncClient.request` sends
        it (the client's headers, then `headers`; `timeout` for all of connect, read and
        write): its response whatever the status, httpx's TransportError when it failed."""
        if self._lean is None:
            pool = self.long_client if long else self.client
            return await pool.request(
                method,
                self.ns(path),
                json=json,
                params=params,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout.total_seconds(),
            )
        # The lean transport is handed the request directly: httpx's client would parse the
        # URL, merge headers and cookies, and build cookie-jar objects for every answer,
        # which cost more than the exchange itself; the SDK uses no cookies, auth flows,
        # redirects or event hooks.
        content = None
        if json is not None:
            content = json_dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
        if headers:  # merged as httpx merges them: a name given again replaces the default
            merged = httpx.Headers(self._headers)
            merged.update(headers)
            if content is not None:
                merged.setdefault("Content-Type", "application/json")
            request_headers: Any = merged
        else:
            request_headers = self._headers if content is None else self._json_headers
        request = httpx.Request(
            method,
            self._url(path),
            params=params,
            headers=request_headers,
            content=content,
            extensions={
                "timeout": self._timeout
                if timeout is None
                else httpx.Timeout(timeout.total_seconds()).as_dict()
            },
        )
        response = await self._lean.handle_async_request(request)
        response.request = request
        return response

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of a route inside the namespace (parsed once per path)."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.address + self.ns(path))
        return url

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        ok: Sequence[int] = (200, 201, 202, 204),
        long: bool = False,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> httpx.Response:
        """One call; RPCError unless the status is in `ok`. Reads are retried while the
        server is unreachable. `rpc_metadata` adds headers; `rpc_timeout` bounds the whole
        call, retries included (Temporal's rule), raising httpx's `ReadTimeout` past it."""
        attempt = 0
        loop = asyncio.get_running_loop()
        deadline = None if rpc_timeout is None else loop.time() + rpc_timeout.total_seconds()
        while True:
            left = None if deadline is None else timedelta(seconds=deadline - loop.time())
            try:
                response = await self.send(
                    method,
                    path,
                    json=json,
                    params=params,
                    headers=rpc_metadata,
                    timeout=left,
                    long=long,
                )
                break
            except httpx.TransportError:
                # Reads are safe to repeat while the server restarts; writes are the caller's call.
                if method != "GET" or attempt >= READ_RETRIES:
                    raise
            if deadline is not None and loop.time() + backoff(attempt) >= deadline:
                raise httpx.ReadTimeout(f"rpc_timeout of {rpc_timeout} passed")
            await sleep_backoff(attempt)
            attempt += 1
        if response.status_code not in ok:
            raise rpc_error(response)
        return response

    async def check(self) -> dict[str, Any]:
        """Ask the server who the key is (`GET /api/v1/me`): `ConnectError` when it cannot
        be reached, `RPCError` (401) for a wrong key. Returns the server's answer."""
        try:
            response = await self.client.get("/api/v1/me", timeout=10.0)
        except httpx.TransportError as err:
            raise ConnectError(
                f"cannot reach a Perdure server at {self.address}: {type(err).__name__} {err}"
            ) from err
        if response.status_code != 200:
            raise rpc_error(response)
        answer: dict[str, Any] = response.json()
        return answer

    async def aclose(self) -> None:
        """Close the connections."""
        for pool in {id(p): p for p in self._pools + self._long_pools}.values():
            await pool.aclose()


def rpc_error(response: httpx.Response) -> RPCError:
    """The typed error for a server problem answer."""
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    if not isinstance(problem, dict):
        problem = {"detail": str(problem)}
    message = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    kind = str(problem.get("type", ""))
    if response.status_code == 409 and kind.endswith("/already-exists"):
        return WorkflowAlreadyStartedError(message, response.status_code, problem)
    return RPCError(message, response.status_code, problem)


def backoff(attempt: int) -> float:
    """Seconds between retries of a failed server call (0.1 s doubling up to 5 s)."""
    return min(5.0, 0.1 * 2 ** min(attempt, 6))


async def sleep_backoff(attempt: int) -> None:
    """Sleep the back-off before retry `attempt`."""
    await asyncio.sleep(backoff(attempt))
