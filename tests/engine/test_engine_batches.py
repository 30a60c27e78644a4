"""Fewer round trips: a start that waits for the result, batch polls and batch completions of
activity tasks — served by raw-HTTP workers, on stored definitions and code-first runs."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.definitions_helpers import store, task
from tests.engine_helpers import (
    assert_problem,
    command,
    raw_on_fresh_queue,
    run_history,
    types,
    uid,
)
from tests.rawhttp import complete_workflow, schedule_activity


async def start_waiting(tenant, name: str, input: Any, wait: float, **fields: Any) -> dict:
    workflow_id = uid()
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}"),
        json={"definition": {"name": name}, "input": input, "wait_for_result": wait, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def poll_batch(tenant, queue: str, max_tasks: int, wait: float = 5) -> list[dict]:
    r = await tenant.client.post(
        tenant.ns(f"/task-queues/{queue}/activity-tasks/poll-batch"),
        json={"identity": "batcher", "wait": wait, "max_tasks": max_tasks},
    )
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


async def complete_batch(tenant, completions: list[dict]) -> list[dict]:
    r = await tenant.client.post(
        tenant.ns("/activity-tasks/complete-batch"),
        json={"identity": "batcher", "completions": completions},
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


# -- start with wait_for_result ------------------------------------------------------------------


async def test_a_start_that_waits_answers_with_the_outcome_of_a_run_decided_in_the_server(tenant):
    name = await store(
        tenant,
        {
            "StartAt": "Add",
            "States": {
                "Add": {
                    "Type": "Pass",
                    "Parameters": {"sum.$": "States.MathAdd($.a, 1)"},
                    "End": True,
                }
            },
        },
    )

    answer = await start_waiting(tenant, name, {"a": 41}, 5)

    assert answer["started"] is True
    assert answer["outcome"]["status"] == "COMPLETED"
    assert answer["outcome"]["result"] == {"sum": 42}
    assert answer["outcome"]["run_id"] == answer["run_id"]


async def test_a_start_that_waits_returns_when_a_worker_completes_the_task(tenant):
    q = uid("q")
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, "echo", End=True)}})
    waiting = asyncio.create_task(start_waiting(tenant, name, {"v": 7}, 10))

    [activity] = await poll_batch(tenant, q, 10)
    assert activity["input"] == {"v": 7}
    assert not waiting.done()
    assert await complete_batch(tenant, [{"task_token": activity["task_token"], "result": 8}]) == [
        {"ok": True, "problem": None}
    ]

    answer = await asyncio.wait_for(waiting, 10)
    assert answer["outcome"]["status"] == "COMPLETED"
    assert answer["outcome"]["result"] == 8


async def test_a_start_whose_wait_ends_first_says_running_and_the_run_goes_on(tenant):
    q = uid("q")
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})

    answer = await start_waiting(tenant, name, None, 0.2)

    assert answer["outcome"]["status"] == "RUNNING"
    assert answer["outcome"]["result"] is None
    [activity] = await poll_batch(tenant, q, 1)
    await complete_batch(tenant, [{"task_token": activity["task_token"], "result": "late"}])
    r = await tenant.client.get(tenant.ns(f"/workflows/{answer['workflow_id']}/result"))
    assert r.json()["status"] == "COMPLETED" and r.json()["result"] == "late"


async def test_a_code_first_start_that_waits_follows_the_run_a_worker_decides(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid()

    async def decide() -> None:
        task_ = await raw.next_workflow_task(wait=10)
        await raw.complete(task_, complete_workflow({"done": True}))

    deciding = asyncio.create_task(decide())
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}"),
        json={
            "workflow_type": "wt",
            "task_queue": raw.q,
            "wait_for_result": 10,
        },
    )
    await deciding

    assert r.status_code == 201, r.text
    assert r.json()["outcome"]["status"] == "COMPLETED"
    assert r.json()["outcome"]["result"] == {"done": True}


async def test_wait_for_result_is_refused_with_eager_execution_or_beyond_thirty_seconds(tenant):
    raw = raw_on_fresh_queue(tenant)
    base = {"workflow_type": "wt", "task_queue": raw.q}
    cases = [
        {**base, "wait_for_result": 5, "request_eager_execution": True, "identity": "w"},
        {**base, "wait_for_result": 31},
        {**base, "wait_for_result": 0},
    ]
    for body in cases:
        workflow_id = uid()
        r = await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}"), json=body)
        assert_problem(r, 400)
        missing = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}"))
        assert missing.status_code == 404, "a refused start must start nothing"


# -- poll-batch ----------------------------------------------------------------------------------


async def test_a_batch_poll_takes_what_is_ready_up_to_max_tasks_each_task_once(tenant):
    q = uid("q")
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})
    workflow_ids = []
    for n in range(5):
        workflow_ids.append((await start_waiting(tenant, name, {"n": n}, 0.01))["workflow_id"])

    first = await poll_batch(tenant, q, 3)
    second = await poll_batch(tenant, q, 3)
    third = await poll_batch(tenant, q, 3, wait=0)

    assert len(first) == 3 and len(second) == 2 and third == []
    taken = first + second
    assert sorted(t["workflow_id"] for t in taken) == sorted(workflow_ids)
    assert len({t["task_token"] for t in taken}) == 5
    assert all(t["attempt"] == 1 and t["activity_type"] == "act" for t in taken)
    # Each was started for the batch poller, exactly as a single poll starts it.
    described = await tenant.client.get(tenant.ns(f"/workflows/{taken[0]['workflow_id']}"))
    [pending] = described.json()["pending_activities"]
    assert pending["state"] == "STARTED"


async def test_a_batch_poll_waits_for_the_first_task(tenant):
    q = uid("q")
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})
    polling = asyncio.create_task(poll_batch(tenant, q, 10, wait=10))
    await asyncio.sleep(0)  # let the poll register before the task exists
    answer = await start_waiting(tenant, name, {"x": 1}, 0.01)

    tasks = await asyncio.wait_for(polling, 10)

    assert [t["workflow_id"] for t in tasks] == [answer["workflow_id"]]


async def test_a_batch_poll_refuses_bad_sizes(tenant):
    for body in ({"max_tasks": 0}, {"max_tasks": 101}, {"max_tasks": "many"}, {"wait": 61}):
        r = await tenant.client.post(
            tenant.ns("/task-queues/q/activity-tasks/poll-batch"), json=body
        )
        assert_problem(r, 400)


# -- complete-batch ------------------------------------------------------------------------------


async def test_a_batch_completion_answers_each_completion_and_keeps_the_good_ones(tenant):
    q = uid("q")
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})
    for n in range(3):
        await start_waiting(tenant, name, {"n": n}, 0.01)
    a, b, c = await poll_batch(tenant, q, 3)
    assert (await complete_batch(tenant, [{"task_token": c["task_token"], "result": "c"}]))[0]["ok"]

    results = await complete_batch(
        tenant,
        [
            {"task_token": a["task_token"], "result": "a"},
            {"task_token": c["task_token"], "result": "c again"},  # already completed
            {"task_token": "not-a-token", "result": None},
            {"task_token": b["task_token"], "result": {"big": "x" * (2 * 1024 * 1024)}},
        ],
    )

    assert results[0] == {"ok": True, "problem": None}
    assert results[1]["ok"] is False and results[1]["problem"]["status"] == 404
    assert results[2]["ok"] is False and results[2]["problem"]["status"] == 400
    assert results[3]["ok"] is False and results[3]["problem"]["status"] == 413
    outcomes = {}
    for t in (a, b, c):
        r = await tenant.client.get(
            tenant.ns(f"/workflows/{t['workflow_id']}/result"), params={"wait": 0}
        )
        outcomes[t["workflow_id"]] = (r.json()["status"], r.json()["result"])
    assert outcomes[a["workflow_id"]] == ("COMPLETED", "a")
    assert outcomes[c["workflow_id"]] == ("COMPLETED", "c"), "a stale completion changed nothing"
    assert outcomes[b["workflow_id"]] == ("RUNNING", None), "a refused result recorded nothing"


async def test_two_branches_completed_in_one_batch_are_decided_together(tenant):
    q = uid("q")
    name = await store(
        tenant,
        {
            "StartAt": "Both",
            "States": {
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "L", "States": {"L": task(q, "left", End=True)}},
                        {"StartAt": "R", "States": {"R": task(q, "right", End=True)}},
                    ],
                    "End": True,
                }
            },
        },
    )
    waiting = asyncio.create_task(start_waiting(tenant, name, {}, 10))
    taken = await poll_batch(tenant, q, 10)
    while len(taken) < 2:
        taken += await poll_batch(tenant, q, 10)

    results = await complete_batch(
        tenant, [{"task_token": t["task_token"], "result": t["activity_type"]} for t in taken]
    )

    assert all(r["ok"] for r in results)
    answer = await asyncio.wait_for(waiting, 10)
    assert answer["outcome"]["status"] == "COMPLETED"
    assert answer["outcome"]["result"] == ["left", "right"]


async def test_a_batch_completion_of_code_first_activities_schedules_one_decision(tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid()
    started = await raw.start(workflow_id)
    first = await raw.next_workflow_task()
    await raw.complete(
        first,
        schedule_activity("a1", task_queue=raw.q),
        schedule_activity("a2", task_queue=raw.q),
    )
    taken = await poll_batch(tenant, raw.q, 10)
    assert sorted(t["activity_id"] for t in taken) == ["a1", "a2"]

    results = await complete_batch(
        tenant, [{"task_token": t["task_token"], "result": t["activity_id"]} for t in taken]
    )

    assert all(r["ok"] for r in results)
    history = await run_history(tenant, workflow_id, started["run_id"])
    after_first_decision = types(history)[types(history).index("WORKFLOW_TASK_COMPLETED") + 1 :]
    assert [t for t in after_first_decision if t.startswith("WORKFLOW_TASK")] == [
        "WORKFLOW_TASK_SCHEDULED"
    ], history
    assert after_first_decision.count("ACTIVITY_TASK_COMPLETED") == 2
    assert after_first_decision[-1] == "WORKFLOW_TASK_SCHEDULED"
    second = await raw.next_workflow_task()
    await raw.complete(second, command("COMPLETE_WORKFLOW_EXECUTION"))


async def test_a_batch_completion_refuses_an_empty_or_oversized_batch(tenant):
    for completions in ([], [{"task_token": "t"}] * 101, [{"token": "t"}]):
        r = await tenant.client.post(
            tenant.ns("/activity-tasks/complete-batch"), json={"completions": completions}
        )
        assert_problem(r, 400)
