"""The command line's way to the server: the connection (flags, then environment, then the
profile file), one synchronous HTTP client, and problem answers turned into `CommandFailed`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from perdure import envconfig
from perdure._http import segment
from perdure.cli._output import Output

DEFAULT_ADDRESS = "http://127.0.0.1:8233"
DEFAULT_NAMESPACE = "default"
# Long polls (results, history) wait up to 30 s on the server; the read timeout covers that.
TIMEOUT = httpx.Timeout(10.0, read=70.0)
# A 429 is asked again this many times, waiting its Retry-After (at most this many seconds).
RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER = 10.0


class CommandFailed(Exception):
    """What went wrong, for one line on stderr (`message`) and, with `-o json`, the server's
    problem body; `exit_code` 1 for a failure, 2 for a usage mistake (as Temporal's CLI)."""

    def __init__(
        self, message: str, *, problem: Mapping[str, Any] | None = None, exit_code: int = 1
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problem = dict(problem) if problem is not None else {"detail": message}
        self.exit_code = exit_code


class UsageError(CommandFailed):
    """A flag missing or wrong: exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class Connection:
    """Where commands go: base URL, API key (never printed) and namespace."""

    address: str
    api_key: str | None
    namespace: str


def profile_of(args: argparse.Namespace) -> envconfig.ClientConfigProfile:
    """The profile the global flags choose, with the environment's overrides applied
    (`--profile`, `--config-file`, `--disable-config-file`, `--disable-config-env`)."""
    config_file = getattr(args, "config_file", None)
    try:
        return envconfig.ClientConfigProfile.load(
            getattr(args, "profile", None),
            config_source=Path(config_file).expanduser() if config_file else None,
            disable_file=getattr(args, "disable_config_file", False),
            disable_env=getattr(args, "disable_config_env", False),
        )
    except envconfig.ConfigError as exc:
        raise UsageError(str(exc)) from None


def connection_of(args: argparse.Namespace) -> Connection:
    """Flags first (`--address`, `--api-key`, `--namespace`), then `PERDURE_ADDRESS`,
    `PERDURE_API_KEY`, `PERDURE_NAMESPACE`, then the profile, then `http://127.0.0.1:8233`
    and `default` — the order of Temporal's CLI."""
    profile = profile_of(args)
    address = getattr(args, "address", None) or profile.address or DEFAULT_ADDRESS
    url = envconfig.address_url(address, profile.tls)
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"the address {address!r} must be http(s)://host:port or host:port")
    api_key = getattr(args, "api_key", None) or profile.api_key
    namespace = getattr(args, "namespace", None) or profile.namespace or DEFAULT_NAMESPACE
    return Connection(url, api_key, namespace)


class Session:
    """One command's parsed flags, its output, and its server connection (opened on first
    use: `config` commands never open one)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Output(getattr(args, "output", "text"))
        self._api: Api | None = None

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(connection_of(self.args))
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


class Api:
    """JSON calls to the server for one command; paths under the namespace with `ns()`."""

    def __init__(self, connection: Connection) -> None:
        headers = {"User-Agent": "perdure-cli"}
        if connection.api_key:
            headers["Authorization"] = f"Bearer {connection.api_key}"
        self.connection = connection
        self.namespace = connection.namespace
        self._http = httpx.Client(base_url=connection.address, headers=headers, timeout=TIMEOUT)

    def ns(self, *parts: str) -> str:
        """A path under `/api/v1/namespaces/<namespace>`, each part one encoded segment."""
        return "/".join(
            [f"/api/v1/namespaces/{segment(self.namespace)}", *(segment(p) for p in parts)]
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204); `CommandFailed` for a problem answer or an
        unreachable server."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                answer = self._http.request(
                    method,
                    path,
                    json=json if content is None else None,
                    content=content,
                    params=query,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                raise CommandFailed(
                    f"cannot reach {self.connection.address}: {exc or type(exc).__name__}; set "
                    "--address, PERDURE_ADDRESS or the profile's address (perdure config set)"
                ) from None
            if answer.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            # Refused before anything was done (a namespace's rate or long-poll limit): asked
            # again after Retry-After, as Temporal's clients retry RESOURCE_EXHAUSTED.
            time.sleep(_retry_after(answer))
        if answer.status_code >= 400:
            raise _problem(answer)
        if answer.status_code == 204 or not answer.content:
            return None
        return answer.json()

    def pages(
        self, path: str, key: str, params: Mapping[str, Any] | None = None, limit: int = 0
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list route's `key` items, following `next_page_token`; at most
        `limit` items in all (0: every item)."""
        token: str | None = None
        left = limit
        while True:
            size = min(left, 1000) if limit else None
            page = self.call(
                "GET", path, params={**(params or {}), "page_size": size, "next_page_token": token}
            )
            items = page.get(key) or []
            if limit:
                items = items[:left]
                left -= len(items)
            yield items
            token = page.get("next_page_token")
            if not token or (limit and left <= 0):
                return

    def close(self) -> None:
        self._http.close()


def _retry_after(answer: httpx.Response) -> float:
    try:
        seconds = float(answer.headers.get("Retry-After", "1"))
    except ValueError:  # an HTTP date: not sent by Perdure
        seconds = 1.0
    return min(max(seconds, 0.1), MAX_RETRY_AFTER)


def _problem(answer: httpx.Response) -> CommandFailed:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
        body = {"status": answer.status_code, "title": answer.reason_phrase, "detail": text}
    detail = body.get("detail") or body.get("title") or f"HTTP {answer.status_code}"
    if answer.status_code == 401:
        detail = f"{detail} (set --api-key, PERDURE_API_KEY or the profile's api_key)"
    return CommandFailed(str(detail).replace("\n", " "), problem=body)
