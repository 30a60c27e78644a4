"""Replay checks from the client (the server's replay gate, docs/deploying.md): before a Worker
Deployment version may become current or ramping, the server hands the histories it would take
over to that version's own workers and records whether they replayed cleanly.

Perdure additions: temporalio has no replay gate. Mixed into `Client` (through
`WorkerDeploymentCalls`); REST: `…/worker-deployment-versions/{name}/{build_id}/replay-check(s)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from perdure._http import segment

if TYPE_CHECKING:
    from perdure._http import Http


def _version_path(deployment_name: str, build_id: str) -> str:
    return f"/worker-deployment-versions/{segment(deployment_name)}/{segment(build_id)}"


class ReplayCheckCalls:
    """The replay-check calls of a `Client`."""

    http: Http

    async def start_replay_check(
        self,
        deployment_name: str,
        build_id: str,
        *,
        sample_size: int = 100,
        query: str | None = None,
        identity: str | None = None,
    ) -> dict[str, Any]:
        """Start a replay check of the version: up to `sample_size` (1..1,000) runs it would
        take over, narrowed by the list filter `query`. The check as the server shows it:
        `{check_id, status ('running', 'passed' or 'failed'), progress, waiting_on,
        failures, valid_until, ...}` (RPCError NOT_FOUND when no worker of the version has
        polled; INVALID_ARGUMENT for a bad filter)."""
        body: dict[str, Any] = {"sample_size": sample_size}
        if query is not None:
            body["query"] = query
        if identity is not None:
            body["identity"] = identity
        path = _version_path(deployment_name, build_id) + "/replay-check"
        return dict((await self.http.call("POST", path, json=body)).json())

    async def describe_replay_check(
        self, deployment_name: str, build_id: str, check_id: str
    ) -> dict[str, Any]:
        """One check: its progress, what it waits for, and up to 20 failing runs
        (`{workflow_id, run_id, workflow_type, kind, message, event_id}`)."""
        path = _version_path(deployment_name, build_id) + f"/replay-checks/{segment(check_id)}"
        return dict((await self.http.call("GET", path)).json())

    async def wait_for_replay_check(
        self,
        deployment_name: str,
        build_id: str,
        check_id: str,
        *,
        max_wait: timedelta | float = 600.0,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """The check once it has passed or failed, read every `interval` seconds; TimeoutError
        after `max_wait` (the check goes on: its `waiting_on` says for what)."""
        limit = max_wait.total_seconds() if isinstance(max_wait, timedelta) else max_wait
        deadline = time.monotonic() + limit
        while True:
            check = await self.describe_replay_check(deployment_name, build_id, check_id)
            if check["status"] != "running":
                return check
            if time.monotonic() >= deadline:
                raise TimeoutError(f"replay check {check_id} still running: {check['waiting_on']}")
            await asyncio.sleep(interval)

    async def list_replay_checks(
        self, deployment_name: str, build_id: str, *, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """The version's checks, newest first (without failing runs: describe one for those),
        fetched a page at a time."""
        path = _version_path(deployment_name, build_id) + "/replay-checks"
        token: str | None = None
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if token:
                params["next_page_token"] = token
            page = (await self.http.call("GET", path, params=params)).json()
            for check in page["checks"]:
                yield check
            token = page.get("next_page_token")
            if not token:
                return
