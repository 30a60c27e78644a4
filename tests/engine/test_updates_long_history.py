"""A speculative workflow task (it carries an update) whose history is more than one page: its
scheduled and started events are not written, yet the worker paging the history with the
task's token sees them at the end of the last page (Temporal's continuation token carries the
transient task the same way). A plain history read shows only what is written."""

from __future__ import annotations

import asyncio

import pytest
from perdure import workflow
from perdure.worker import Worker

from tests.engine_helpers import types, uid
from tests.rawhttp import Raw, start_timer
from tests.sdk_helpers import new_id, sdk_client
from tests.update_helpers import accept, placed, respond, send_update

TIMERS = 1_100  # more events than one history page (1,000)


async def long_idle_run(raw: Raw) -> str:
    """A run whose first task started 1,100 long timers, then waits."""
    workflow_id = uid()
    await raw.start(workflow_id)
    task = await raw.next_workflow_task()
    await raw.complete(task, *(start_timer(f"t{n}", 3600) for n in range(TIMERS)))
    return workflow_id


async def page_on(raw: Raw, task: dict) -> list[dict]:
    """The task's history, the rest read with its next_page_token as a worker does."""
    events = list(task["history"]["events"])
    token = task["history"]["next_page_token"]
    while token:
        r = await raw.c.get(
            raw.t.ns(f"/workflows/{task['workflow_id']}/history"),
            params={"run_id": task["run_id"], "next_page_token": token},
        )
        assert r.status_code == 200, r.text
        events += r.json()["events"]
        token = r.json()["next_page_token"]
    return events


async def written_history(raw: Raw, workflow_id: str) -> list[str]:
    """Every written event's type, paged as any reader pages."""
    found, token = [], None
    while True:
        params = {"next_page_token": token} if token else {}
        page = (
            await raw.c.get(raw.t.ns(f"/workflows/{workflow_id}/history"), params=params)
        ).json()
        found += types(page["events"])
        if not (token := page["next_page_token"]):
            return found


@pytest.mark.parametrize("partial", [True, False])
async def test_the_last_page_shows_the_speculative_tasks_events(tenant, partial):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = await long_idle_run(raw)
    written = await written_history(raw, workflow_id)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="u"))

    r = await raw.c.post(
        raw.t.ns(f"/task-queues/{raw.q}/workflow-tasks/poll"),
        json={"identity": "decider", "wait": 5, "partial_history": partial},
    )
    task = r.json()

    assert task["messages"][0]["protocol_instance_id"] == "u"
    assert task["history"]["next_page_token"] is not None  # more than one page
    events = await page_on(raw, task)
    first = task["history"]["after_event_id"] + 1
    assert [e["event_id"] for e in events] == list(range(first, task["started_event_id"] + 1))
    assert types(events)[-2:] == ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
    assert events[-1]["attributes"]["scheduled_event_id"] == task["scheduled_event_id"]
    # Not written: a plain read of the history ends where it did.
    assert await written_history(raw, workflow_id) == written
    assert written[-1] == "TIMER_STARTED"

    message = task["messages"][0]
    accepted, done = accept(message), respond("u", success="seen")
    await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
    assert (await caller).json()["outcome"] == {"success": "seen"}


async def test_a_page_token_of_a_task_no_longer_pending_shows_only_written_events(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = await long_idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="gone"))
    task = await raw.next_workflow_task()
    message = task["messages"][0]
    accepted, done = accept(message), respond("gone", success="ok")
    await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
    await caller

    events = await page_on(raw, task)  # kept: its events are written now, once each

    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    assert ids[-1] > task["started_event_id"]
    assert "WORKFLOW_EXECUTION_UPDATE_ACCEPTED" in types(events)


@workflow.defn
class Crowded:
    """Starts 1,100 long timers at once, then counts the updates it takes."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> int:
        sleeps = [asyncio.ensure_future(workflow.sleep(3600)) for _ in range(TIMERS)]
        await workflow.wait_condition(lambda: self.count >= 2)
        for sleep in sleeps:
            sleep.cancel()
        return self.count

    @workflow.update
    def add(self) -> int:
        self.count += 1
        return self.count


async def test_a_worker_without_the_run_in_memory_handles_the_update(server):
    async with sdk_client(server) as client:
        queue = new_id("crowded")
        async with Worker(client, task_queue=queue, workflows=[Crowded]):
            handle = await client.start_workflow(
                Crowded.run, id=new_id("crowded"), task_queue=queue
            )
            await asyncio.wait_for(started_timers(handle), 30)
        # A new worker (nothing in memory) takes the speculative task: the history it reads is
        # more than a page, and it must end with the task's own unwritten events.
        async with Worker(client, task_queue=queue, workflows=[Crowded]):
            assert await handle.execute_update(Crowded.add) == 1
            assert await handle.execute_update(Crowded.add) == 2
            assert await handle.result() == 2


async def started_timers(handle) -> None:
    """Returns once the first workflow task's timers are written (they come in one go)."""
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event["event_type"] == "TIMER_STARTED":
            return
