"""A raw-HTTP decider and worker: what a client in any language would send. No SDK."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant


class Raw:
    def __init__(self, tenant: Tenant, task_queue: str = "q") -> None:
        self.t = tenant
        self.c = tenant.client
        self.q = task_queue

    async def start(
        self,
        workflow_id: str,
        *,
        expect: int = 201,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {"workflow_type": "Flow", "task_queue": self.q, **fields}
        r = await self.c.post(
            self.t.ns(f"/workflows/{workflow_id}"), json=body, headers=headers or {}
        )
        assert r.status_code == expect, r.text
        return r.json()

    async def poll_workflow_task(
        self, *, wait: float = 5, queue: str | None = None
    ) -> dict[str, Any] | None:
        r = await self.c.post(
            self.t.ns(f"/task-queues/{queue or self.q}/workflow-tasks/poll"),
            json={"identity": "decider", "wait": wait},
        )
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    async def next_workflow_task(
        self, *, wait: float = 5, queue: str | None = None
    ) -> dict[str, Any]:
        task = await self.poll_workflow_task(wait=wait, queue=queue)
        assert task is not None, "expected a workflow task"
        return task

    async def complete(
        self, task: dict[str, Any], *commands: dict[str, Any], expect: int = 200, **extra: Any
    ) -> httpx.Response:
        r = await self.c.post(
            self.t.ns("/workflow-tasks/complete"),
            json={
                "task_token": task["task_token"],
                "commands": list(commands),
                "identity": "decider",
                **extra,
            },
        )
        assert r.status_code == expect, r.text
        return r

    async def poll_activity_task(
        self, *, wait: float = 5, queue: str | None = None
    ) -> dict[str, Any] | None:
        r = await self.c.post(
            self.t.ns(f"/task-queues/{queue or self.q}/activity-tasks/poll"),
            json={"identity": "worker", "wait": wait},
        )
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    async def next_activity_task(
        self, *, wait: float = 5, queue: str | None = None
    ) -> dict[str, Any]:
        task = await self.poll_activity_task(wait=wait, queue=queue)
        assert task is not None, "expected an activity task"
        return task

    async def activity(
        self, action: str, task: dict[str, Any], expect: int = 200, **body: Any
    ) -> httpx.Response:
        r = await self.c.post(
            self.t.ns(f"/activity-tasks/{action}"), json={"task_token": task["task_token"], **body}
        )
        assert r.status_code == expect, r.text
        return r

    async def history(self, workflow_id: str, **params: Any) -> list[dict[str, Any]]:
        r = await self.c.get(self.t.ns(f"/workflows/{workflow_id}/history"), params=params)
        assert r.status_code == 200, r.text
        return r.json()["events"]

    async def event_types(self, workflow_id: str, **params: Any) -> list[str]:
        return [e["event_type"] for e in await self.history(workflow_id, **params)]

    async def result(self, workflow_id: str, wait: float = 10, **params: Any) -> dict[str, Any]:
        r = await self.c.get(
            self.t.ns(f"/workflows/{workflow_id}/result"), params={"wait": wait, **params}
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def describe(self, workflow_id: str) -> dict[str, Any]:
        r = await self.c.get(self.t.ns(f"/workflows/{workflow_id}"))
        assert r.status_code == 200, r.text
        return r.json()


def schedule_activity(activity_id: str, activity_type: str = "act", **attrs: Any) -> dict[str, Any]:
    attrs.setdefault("start_to_close_timeout", 30)
    return {
        "command_type": "SCHEDULE_ACTIVITY_TASK",
        "attributes": {"activity_id": activity_id, "activity_type": activity_type, **attrs},
    }


def start_timer(timer_id: str, seconds: float) -> dict[str, Any]:
    return {
        "command_type": "START_TIMER",
        "attributes": {"timer_id": timer_id, "start_to_fire_timeout": seconds},
    }


def complete_workflow(result: Any = None) -> dict[str, Any]:
    return {"command_type": "COMPLETE_WORKFLOW_EXECUTION", "attributes": {"result": result}}


def new_events(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of a workflow task the decider has not seen before."""
    after = task["previous_started_event_id"]
    return [e for e in task["history"]["events"] if e["event_id"] > after]
