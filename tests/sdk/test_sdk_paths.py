"""Ids and names the SDK puts into URL paths round-trip exactly, whatever their characters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker

from tests.sdk_helpers import (
    activity_started,
    described_until,
    new_id,
    query_until,
    sdk_client,
)

QUEUE = "tq ?#%&+ ünï"
ODD = [
    "q?x=1#frag",
    "a b",
    "100%",
    "%2F",
    "ünï ☃",
    "..",
    ".",
    "a+b;c=d&e",
    "~x",
    "order/42",
    "a//b/",
]


@activity.defn(name="wait outside?#%")
async def wait_outside() -> str:
    activity.raise_complete_async()
    return "never"


@workflow.defn(name="Odd type ?#%")
class OddNames:
    def __init__(self) -> None:
        self.steps: list[str] = []

    @workflow.signal(name="step?2")
    def step(self, value: str) -> None:
        self.steps.append(value)

    @workflow.signal(name="ünï %#&")
    def other(self, value: str) -> None:
        self.steps.append(value)

    @workflow.query(name="state?x#1")
    def state(self) -> list[str]:
        return self.steps

    @workflow.run
    async def run(self) -> dict[str, object]:
        await workflow.wait_condition(lambda: len(self.steps) == 2)
        outside = await workflow.execute_activity(
            wait_outside, activity_id="act ?#% ..", start_to_close_timeout=timedelta(seconds=30)
        )
        return {"id": workflow.info().workflow_id, "steps": self.steps, "outside": outside}


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server) as client:
        async with Worker(
            client, task_queue=QUEUE, workflows=[OddNames], activities=[wait_outside]
        ):
            yield client


@pytest.mark.parametrize("odd", ODD)
async def test_workflow_ids_signal_query_and_activity_names_round_trip(client, odd):
    workflow_id = odd  # the module's tenant is new: every id is free
    handle = await client.start_workflow(OddNames.run, id=workflow_id, task_queue=QUEUE)
    await handle.signal(OddNames.step, "one")
    await handle.signal("ünï %#&", "two")
    await query_until(handle, OddNames.state, ["one", "two"])
    await described_until(handle, activity_started)
    outside = client.get_async_activity_handle(workflow_id=workflow_id, activity_id="act ?#% ..")
    await outside.heartbeat("still there")
    await outside.complete("done by hand")

    assert await handle.result() == {
        "id": workflow_id,
        "steps": ["one", "two"],
        "outside": "done by hand",
    }
    described = await client.get_workflow_handle(workflow_id, run_id=handle.run_id).describe()
    assert (described.id, described.run_id) == (workflow_id, handle.run_id)
    assert (described.task_queue, described.workflow_type) == (QUEUE, "Odd type ?#%")
    events = (await handle.fetch_history())["events"]
    signals = [e["attributes"]["signal_name"] for e in events if "SIGNALED" in e["event_type"]]
    assert signals == ["step?2", "ünï %#&"]


async def test_a_workflow_can_be_cancelled_and_terminated_by_an_odd_id(client):
    workflow_id = f"stop?now#{new_id('x')} %"
    # No worker polls this queue: the cancel request stays a request until the terminate.
    handle = await client.start_workflow(
        OddNames.run, id=workflow_id, task_queue=f"{QUEUE}-unpolled"
    )
    await handle.cancel()
    await handle.terminate("details", reason="done ?#%")
    described = await handle.describe()
    assert described.status == "TERMINATED"
    assert described.cancel_requested is True


async def test_an_empty_id_is_refused_before_anything_is_sent(client):
    with pytest.raises(ValueError):
        await client.start_workflow(OddNames.run, id="", task_queue=QUEUE)
