"""A server killed with SIGKILL mid-run loses nothing and repeats nothing after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity, start_timer

PERDURE = str(Path(sys.executable).with_name("perdure"))


class ServerProcess:
    def __init__(self, database_url: str, port: int, log: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
        self.env.update(
            PERDURE_DATABASE_URL=database_url,
            PERDURE_PORT=str(port),
            PERDURE_ADMIN_TOKEN=ADMIN_TOKEN,
            PERDURE_LOG_LEVEL="warning",
            PERDURE_SECRET_KEY="crash-test-secret-key-0123456789abcdef",
        )
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(  # noqa: ASYNC220 - a child that outlives this call
                [PERDURE, "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60  # a loaded machine starts a server slowly
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            while time.monotonic() < deadline:
                assert self.popen.poll() is None, self.log.read_text()
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server did not become ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    async def new_tenant(self, *, client_timeout: float = 30) -> Tenant:
        """A tenant "crash" with namespace "main" on this server, and a client keyed for it
        (the caller closes `tenant.client`)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=client_timeout) as http:
            created = await http.post(
                "/api/v1/tenants",
                json={"name": "crash"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            key = created.json()["api_key"]["key"]
        client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=client_timeout,
        )
        await client.post("/api/v1/namespaces", json={"name": "main"})
        return Tenant(name="crash", admin_key=key, namespace="main", client=client)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


async def test_sigkill_with_a_pending_timer_and_a_started_activity_loses_and_repeats_nothing(
    database_url, tmp_path
):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            async with httpx.AsyncClient(base_url=proc.base_url, timeout=30) as http:
                created = await http.post(
                    "/api/v1/tenants",
                    json={"name": "crash"},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                key = created.json()["api_key"]["key"]
                client = httpx.AsyncClient(
                    base_url=proc.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
                await client.post("/api/v1/namespaces", json={"name": "main"})
                raw = Raw(Tenant(name="crash", admin_key=key, namespace="main", client=client))

                await raw.start("survivor")
                task = await raw.next_workflow_task()
                await raw.complete(
                    task,
                    schedule_activity("charge", start_to_close_timeout=60),
                    start_timer("cool-off", 1),
                )
                activity = await raw.next_activity_task()

                proc.kill()
                await proc.start()

                # The started activity is not handed out again: its attempt is still running.
                assert await raw.poll_activity_task(wait=0) is None
                await raw.activity("complete", activity, result="charged once")

                seen: list[str] = []
                for _ in range(2):  # the activity completion, then the timer (1 s, real time)
                    task = await raw.next_workflow_task(wait=15)
                    seen += [e["event_type"] for e in new_events(task)]
                    if "TIMER_FIRED" in seen and "ACTIVITY_TASK_COMPLETED" in seen:
                        break
                    await raw.complete(task)
                await raw.complete(task, complete_workflow("done"))

                assert (await raw.result("survivor"))["status"] == "COMPLETED"
                types = await raw.event_types("survivor")
                assert types.count("ACTIVITY_TASK_STARTED") == 1
                assert types.count("ACTIVITY_TASK_COMPLETED") == 1
                assert types.count("TIMER_FIRED") == 1
                assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
                events = await raw.history("survivor")
                assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
                await client.aclose()
        finally:
            proc.stop()
