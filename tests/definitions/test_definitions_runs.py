"""Runs of stored definitions: each state type end to end, served by raw-HTTP workers."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.definitions_helpers import run_definition, start, store, task
from tests.rawhttp import Raw


def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


async def fire(server, seconds: float) -> None:
    server.ctx.clock.advance(timedelta(seconds=seconds))
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def test_pass_states_chain_and_the_run_completes_with_the_last_output(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
                "B": {
                    "Type": "Pass",
                    "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)"},
                    "End": True,
                },
            },
        },
        {"n": 41},
    )

    outcome = await raw.result(wf)

    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"sum": 42}


async def test_task_is_served_by_a_polling_worker_with_full_path_processing(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Charge",
            "States": {
                "Charge": task(
                    q,
                    "charge",
                    InputPath="$.order",
                    Parameters={"amount.$": "$.total", "currency": "EUR"},
                    ResultSelector={"id.$": "$.payment.id"},
                    ResultPath="$.order.payment",
                    OutputPath="$.order",
                    End=True,
                )
            },
        },
        {"order": {"total": 12.5}, "other": True},
    )

    activity = await raw.next_activity_task()
    assert activity["activity_type"] == "charge"
    assert activity["input"] == {"amount": 12.5, "currency": "EUR"}
    await raw.activity("complete", activity, result={"payment": {"id": "p-1", "noise": 1}})

    outcome = await raw.result(wf)
    assert outcome["result"] == {"total": 12.5, "payment": {"id": "p-1"}}


async def test_step_functions_activity_arn_is_served_on_the_queue_of_its_name(tenant):
    name = queue()
    raw = Raw(tenant, name)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": f"arn:aws:states:eu-west-1:123456789012:activity:{name}",
                    "End": True,
                }
            },
        },
        {"a": 1},
    )

    activity = await raw.next_activity_task()
    assert activity["activity_type"] == name
    await raw.activity("complete", activity, result="done")

    assert (await raw.result(wf))["result"] == "done"


async def test_choice_takes_the_first_matching_rule_and_default_otherwise(tenant):
    raw = Raw(tenant)
    definition = {
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.n", "IsNumeric": True},
                            {"Variable": "$.n", "NumericGreaterThanPath": "$.limit"},
                        ],
                        "Next": "Big",
                    },
                    {"Not": {"Variable": "$.name", "StringMatches": "a*"}, "Next": "NotA"},
                ],
                "Default": "Other",
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "NotA": {"Type": "Pass", "Result": "not-a", "End": True},
            "Other": {"Type": "Pass", "Result": "other", "End": True},
        },
    }
    name = await store(tenant, definition)

    results = [
        (await raw.result(await start(tenant, name, value)))["result"]
        for value in (
            {"n": 10, "limit": 5, "name": "abc"},
            {"n": 1, "limit": 5, "name": "bcd"},
            {"n": 1, "limit": 5, "name": "abc"},
        )
    ]

    assert results == ["big", "not-a", "other"]


async def test_choice_without_a_match_or_default_fails_the_run(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "Done"}],
                },
                "Done": {"Type": "Succeed"},
            },
        },
        {"x": False},
    )

    outcome = await raw.result(wf)

    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["type"] == "States.NoChoiceMatched"


async def test_wait_seconds_holds_the_run_until_the_timer_fires(tenant, server):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}},
        },
        {"delay": 600},
    )
    assert (await raw.describe(wf))["status"] == "RUNNING"

    await fire(server, 601)

    assert (await raw.result(wf))["result"] == {"delay": 600}


async def test_wait_until_a_timestamp(tenant, server):
    raw = Raw(tenant)
    when = (server.ctx.clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wf = await run_definition(
        tenant,
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "TimestampPath": "$.at", "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        },
        {"at": when},
    )
    described = await raw.describe(wf)
    assert described["definition"]["current_states"] == ["W"]

    await fire(server, 3600)
    assert (await raw.describe(wf))["status"] == "RUNNING"
    await fire(server, 3601)

    assert (await raw.result(wf))["status"] == "COMPLETED"


async def test_succeed_applies_input_and_output_paths(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "S",
            "States": {"S": {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}},
        },
        {"a": {"b": [1, 2]}},
    )

    assert (await raw.result(wf))["result"] == [1, 2]


async def test_fail_state_fails_the_run_with_error_and_cause_from_paths(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "F",
            "States": {"F": {"Type": "Fail", "ErrorPath": "$.code", "CausePath": "$.why"}},
        },
        {"code": "Rejected", "why": "over budget"},
    )

    outcome = await raw.result(wf)

    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["type"] == "Rejected"
    assert outcome["failure"]["message"] == "over budget"


async def test_retry_backs_off_by_the_retrier_then_catch_takes_over(tenant, server):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": task(
                    q,
                    Retry=[
                        {"ErrorEquals": ["Other"], "MaxAttempts": 5},
                        {
                            "ErrorEquals": ["Boom"],
                            "IntervalSeconds": 10,
                            "MaxAttempts": 2,
                            "BackoffRate": 3,
                        },
                    ],
                    Catch=[
                        {"ErrorEquals": ["Other"], "Next": "Wrong"},
                        {
                            "ErrorEquals": ["States.ALL"],
                            "ResultPath": "$.error",
                            "Next": "Recovered",
                        },
                    ],
                    End=True,
                ),
                "Wrong": {"Type": "Fail", "Error": "Wrong"},
                "Recovered": {"Type": "Pass", "End": True},
            },
        },
        {"k": "v"},
    )

    for attempt, backoff in ((1, 10), (2, 30)):
        activity = await raw.next_activity_task()
        await raw.activity("fail", activity, failure={"type": "Boom", "message": f"try {attempt}"})
        await fire(server, backoff - 1)
        assert await raw.poll_activity_task(wait=0) is None
        await fire(server, 2)
    activity = await raw.next_activity_task()
    await raw.activity("fail", activity, failure={"type": "Boom", "message": "try 3"})

    outcome = await raw.result(wf)
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"k": "v", "error": {"Error": "Boom", "Cause": "try 3"}}
    backoffs = [
        e["attributes"]["start_to_fire_timeout"]
        for e in await raw.history(wf)
        if e["event_type"] == "TIMER_STARTED"
    ]
    assert backoffs == [10, 30]


async def test_retry_back_off_is_capped_by_max_delay_seconds(tenant, server):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": task(
                    q,
                    Retry=[
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": 5,
                            "BackoffRate": 4,
                            "MaxAttempts": 3,
                            "MaxDelaySeconds": 30,
                        }
                    ],
                    End=True,
                )
            },
        },
        {},
    )
    for backoff in (5, 20, 30):
        activity = await raw.next_activity_task()
        await raw.activity("fail", activity, failure={"message": "again"})
        await fire(server, backoff)
    activity = await raw.next_activity_task()
    await raw.activity("complete", activity, result="finally")

    assert (await raw.result(wf))["result"] == "finally"
    backoffs = [
        e["attributes"]["start_to_fire_timeout"]
        for e in await raw.history(wf)
        if e["event_type"] == "TIMER_STARTED"
    ]
    assert backoffs == [5, 20, 30]


async def test_a_missed_heartbeat_is_states_heartbeat_timeout(tenant, server):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": task(
                    q,
                    HeartbeatSeconds=10,
                    TimeoutSeconds=300,
                    Catch=[
                        {
                            "ErrorEquals": ["States.HeartbeatTimeout"],
                            "ResultPath": "$.e",
                            "Next": "Lost",
                        }
                    ],
                    End=True,
                ),
                "Lost": {"Type": "Pass", "End": True},
            },
        },
        {},
    )
    await raw.next_activity_task()

    await fire(server, 11)

    assert (await raw.result(wf))["result"]["e"]["Error"] == "States.HeartbeatTimeout"


async def test_task_timeout_is_states_timeout_which_task_failed_does_not_catch(tenant, server):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": task(
                    q,
                    TimeoutSeconds=30,
                    Catch=[
                        {"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
                        {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"},
                    ],
                    End=True,
                ),
                "Failed": {"Type": "Pass", "Result": "failed", "End": True},
                "TimedOut": {"Type": "Pass", "Result": "timed out", "End": True},
            },
        },
    )
    await raw.next_activity_task()

    await fire(server, 31)

    assert (await raw.result(wf))["result"] == "timed out"


async def test_parallel_collects_branch_outputs_in_order(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "A", "States": {"A": task(q, "a", End=True)}},
                        {
                            "StartAt": "B",
                            "States": {"B": {"Type": "Pass", "Result": "b", "End": True}},
                        },
                    ],
                    "ResultPath": "$.both",
                    "End": True,
                }
            },
        },
        {"in": 1},
    )

    activity = await raw.next_activity_task()
    assert (await raw.describe(wf))["definition"]["current_states"] == ["P", "A"]
    await raw.activity("complete", activity, result="a")

    assert (await raw.result(wf))["result"] == {"in": 1, "both": ["a", "b"]}


async def test_parallel_fails_when_one_branch_fails_and_its_catch_handles_it(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Slow", "States": {"Slow": task(q, "slow", End=True)}},
                        {
                            "StartAt": "Bad",
                            "States": {
                                "Bad": {"Type": "Fail", "Error": "BranchFailed", "Cause": "no"}
                            },
                        },
                    ],
                    "Catch": [
                        {"ErrorEquals": ["BranchFailed"], "ResultPath": "$.err", "Next": "Handled"}
                    ],
                    "End": True,
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
        {},
    )

    outcome = await raw.result(wf)

    assert outcome["result"] == {"err": {"Error": "BranchFailed", "Cause": "no"}}
    assert await raw.poll_activity_task(wait=0) is None


async def test_a_failing_branch_fails_the_parallel_and_cancels_the_other_branch(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "A", "States": {"A": task(q, "a", End=True)}},
                        {"StartAt": "B", "States": {"B": task(q, "b", End=True)}},
                    ],
                    "End": True,
                }
            },
        },
        {},
    )
    tasks = {}
    for _ in range(2):
        activity = await raw.next_activity_task()
        tasks[activity["activity_type"]] = activity

    await raw.activity("fail", tasks["b"], failure={"type": "Broken", "message": "b broke"})

    outcome = await raw.result(wf)
    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["type"] == "Broken"
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" in await raw.event_types(wf)


async def test_a_branch_given_up_has_its_pending_wait_canceled_and_the_run_goes_on(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "Nap",
                            "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}},
                        },
                        {"StartAt": "B", "States": {"B": task(q, "b", End=True)}},
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Next"}],
                    "End": True,
                },
                "Next": task(q, "next", End=True),
            },
        },
        {},
    )
    await raw.activity("fail", await raw.next_activity_task(), failure={"type": "Broken"})

    after = await raw.next_activity_task()
    assert after["activity_type"] == "next"
    history = await raw.history(wf)
    [started] = [e for e in history if e["event_type"] == "TIMER_STARTED"]
    [canceled] = [e for e in history if e["event_type"] == "TIMER_CANCELED"]
    assert canceled["attributes"]["timer_id"] == started["attributes"]["timer_id"]
    await raw.activity("complete", after, result=None)
    assert (await raw.result(wf))["status"] == "COMPLETED"
    assert (await raw.describe(wf))["pending_timers"] == []


async def test_map_runs_at_most_max_concurrency_items_at_once(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 2,
                    "ItemSelector": {
                        "value.$": "$$.Map.Item.Value",
                        "index.$": "$$.Map.Item.Index",
                        "k.$": "$.k",
                    },
                    "ItemProcessor": {
                        "StartAt": "Double",
                        "States": {"Double": task(q, "double", End=True)},
                    },
                    "End": True,
                }
            },
        },
        {"items": [1, 2, 3, 4, 5], "k": "x"},
    )

    seen = []
    for _ in range(5):
        first = await raw.next_activity_task()
        pending = (await raw.describe(wf))["pending_activities"]
        assert len(pending) <= 2
        seen.append(first["input"])
        await raw.activity("complete", first, result=first["input"]["value"] * 2)

    assert sorted(i["index"] for i in seen) == [0, 1, 2, 3, 4]
    assert all(i["k"] == "x" for i in seen)
    assert (await raw.result(wf))["result"] == [2, 4, 6, 8, 10]


async def test_map_of_nothing_is_an_empty_list(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
                    "End": True,
                }
            },
        },
        [],
    )

    assert (await raw.result(wf))["result"] == []


async def test_describe_shows_the_definition_version_and_current_state(tenant):
    q = queue()
    raw = Raw(tenant, q)
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})
    r = await tenant.client.put(
        tenant.ns(f"/definitions/{name}"),
        json={"StartAt": "T2", "States": {"T2": task(q, End=True)}},
    )
    assert r.json()["version"] == 2
    wf = await start(tenant, name, {}, version=1)

    await raw.next_activity_task()
    described = await raw.describe(wf)

    assert described["definition"] == {"name": name, "version": 1, "current_states": ["T"]}
    assert described["workflow_type"] == name


async def test_a_definition_with_open_runs_cannot_be_deleted(tenant):
    q = queue()
    raw = Raw(tenant, q)
    name = await store(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}})
    wf = await start(tenant, name, {})

    refused = await tenant.client.delete(tenant.ns(f"/definitions/{name}"))
    assert refused.status_code == 409, refused.text
    activity = await raw.next_activity_task()
    await raw.activity("complete", activity, result=1)
    await raw.result(wf)

    deleted = await tenant.client.delete(tenant.ns(f"/definitions/{name}"))
    assert deleted.status_code == 204
    assert (await tenant.client.get(tenant.ns(f"/definitions/{name}"))).status_code == 404


async def test_cancel_request_cancels_the_run(tenant):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(tenant, {"StartAt": "T", "States": {"T": task(q, End=True)}}, {})
    await raw.next_activity_task()

    r = await tenant.client.post(tenant.ns(f"/workflows/{wf}/cancel"), json={})
    assert r.status_code == 202, r.text

    assert (await raw.result(wf))["status"] == "CANCELED"


async def test_top_level_timeout_seconds_times_the_run_out(tenant, server):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "W",
            "TimeoutSeconds": 60,
            "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
        },
        {},
    )
    assert (await raw.describe(wf))["execution_timeout"] == 60

    await fire(server, 61)

    assert (await raw.result(wf))["status"] == "TIMED_OUT"


async def test_task_timeout_seconds_path_reads_the_state_input(tenant, server):
    q = queue()
    raw = Raw(tenant, q)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": task(
                    q,
                    TimeoutSecondsPath="$.limit",
                    Catch=[
                        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.e", "Next": "Late"}
                    ],
                    End=True,
                ),
                "Late": {"Type": "Pass", "End": True},
            },
        },
        {"limit": 45},
    )
    await raw.next_activity_task()
    await fire(server, 44)
    assert (await raw.describe(wf))["status"] == "RUNNING"

    await fire(server, 2)

    assert (await raw.result(wf))["result"]["e"]["Error"] == "States.Timeout"
