"""Task resources beyond activities: callbacks by task token, HTTP calls the server makes,
and child runs of other stored definitions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.definitions_helpers import run_definition, store
from tests.rawhttp import Raw


async def scheduled_inputs(raw: Raw, workflow_id: str) -> list[Any]:
    return [
        e["attributes"]["input"]
        for e in await raw.history(workflow_id)
        if e["event_type"] == "ACTIVITY_TASK_SCHEDULED"
    ]


async def test_wait_for_task_token_waits_until_the_token_is_completed(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Approve",
            "States": {
                "Approve": {
                    "Type": "Task",
                    "Resource": "perdure:callback.waitForTaskToken",
                    "Parameters": {"token.$": "$$.Task.Token", "request.$": "$.request"},
                    "ResultPath": "$.approval",
                    "HeartbeatSeconds": 3600,
                    "Next": "Done",
                },
                "Done": {"Type": "Succeed"},
            },
        },
        {"request": "buy a boat"},
    )
    [sent] = await scheduled_inputs(raw, wf)
    assert sent["request"] == "buy a boat"
    assert (await raw.describe(wf))["definition"]["current_states"] == ["Approve"]

    r = await tenant.client.post(
        tenant.ns("/activity-tasks/complete"),
        json={"task_token": sent["token"], "result": {"approved": True, "by": "ann"}},
    )
    assert r.status_code == 200, r.text

    outcome = await raw.result(wf)
    assert outcome["result"] == {
        "request": "buy a boat",
        "approval": {"approved": True, "by": "ann"},
    }


async def test_a_failed_task_token_goes_to_the_catch(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Approve",
            "States": {
                "Approve": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}},
                    "Catch": [{"ErrorEquals": ["Rejected"], "Next": "No"}],
                    "End": True,
                },
                "No": {"Type": "Pass", "Result": "rejected", "End": True},
            },
        },
        {},
    )
    [sent] = await scheduled_inputs(raw, wf)

    r = await tenant.client.post(
        tenant.ns("/activity-tasks/fail"),
        json={
            "task_token": sent["MessageBody"]["token"],
            "failure": {"type": "Rejected", "message": "no"},
        },
    )
    assert r.status_code == 200, r.text

    assert (await raw.result(wf))["result"] == "rejected"


@asynccontextmanager
async def loopback_endpoint(status: int = 200) -> AsyncIterator[tuple[str, list[dict]]]:
    """A tiny HTTP server on 127.0.0.1 that records requests and answers JSON."""
    seen: list[dict[str, Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        seen.append({"method": method, "target": target, "headers": headers, "body": body})
        answer = json.dumps({"echo": json.loads(body) if body else None}).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
            + answer
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


async def test_http_invoke_calls_the_endpoint_and_returns_the_response(tenant):
    raw = Raw(tenant)
    async with loopback_endpoint() as (base, seen):
        wf = await run_definition(
            tenant,
            {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::http:invoke",
                        "Parameters": {
                            "ApiEndpoint": f"{base}/orders",
                            "Method": "POST",
                            "Headers": {"X-Trace": "t1"},
                            "QueryParameters": {"page": 2},
                            "RequestBody": {"id.$": "$.id"},
                        },
                        "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"},
                        "End": True,
                    }
                },
            },
            {"id": 7},
        )

        outcome = await raw.result(wf, wait=20)

    assert outcome["result"] == {"status": 200, "body": {"echo": {"id": 7}}}
    [request] = seen
    assert (request["method"], request["target"]) == ("POST", "/orders?page=2")
    assert request["headers"]["x-trace"] == "t1"


async def test_http_invoke_error_status_is_an_error_the_state_can_catch(tenant):
    raw = Raw(tenant)
    async with loopback_endpoint(status=503) as (base, _):
        wf = await run_definition(
            tenant,
            {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::http:invoke",
                        "Parameters": {"ApiEndpoint": base, "Method": "GET"},
                        "Catch": [
                            {
                                "ErrorEquals": ["States.Http.StatusCode.503"],
                                "ResultPath": "$.error",
                                "Next": "Down",
                            }
                        ],
                        "End": True,
                    },
                    "Down": {"Type": "Pass", "End": True},
                },
            },
            {},
        )

        outcome = await raw.result(wf, wait=20)

    assert outcome["result"]["error"]["Error"] == "States.Http.StatusCode.503"


async def test_a_child_run_of_another_definition_is_awaited_with_sync(tenant):
    raw = Raw(tenant)
    child = await store(
        tenant,
        {
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.MathAdd($.n, $.n)"},
                    "End": True,
                }
            },
        },
    )
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                    "ResultSelector": {"out.$": "$.Output", "status.$": "$.Status"},
                    "End": True,
                }
            },
        },
        {"n": 21},
    )

    outcome = await raw.result(wf)

    assert outcome["result"] == {"out": {"n": 42}, "status": "SUCCEEDED"}
    [started] = [
        e for e in await raw.history(wf) if e["event_type"] == "CHILD_WORKFLOW_EXECUTION_STARTED"
    ]
    child_wf = started["attributes"]["workflow_execution"]["workflow_id"]
    described = await raw.describe(child_wf)
    assert described["definition"]["name"] == child
    assert described["parent"]["workflow_id"] == wf


async def test_a_failed_child_fails_the_parent_task(tenant):
    raw = Raw(tenant)
    child = await store(
        tenant, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope"}}}
    )
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync",
                    "Parameters": {
                        "StateMachineArn": f"arn:aws:states:us-east-1:1:stateMachine:{child}"
                    },
                    "Catch": [
                        {
                            "ErrorEquals": ["States.TaskFailed"],
                            "ResultPath": "$.e",
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
        {},
    )

    outcome = await raw.result(wf)

    assert outcome["result"]["e"]["Error"] == "States.TaskFailed"
    assert json.loads(outcome["result"]["e"]["Cause"])["Error"] == "Nope"


async def test_start_execution_without_sync_does_not_wait_for_the_child(tenant):
    raw = Raw(tenant)
    child = await store(
        tenant, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    )
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution",
                    "Parameters": {"StateMachineArn": child, "Name.$": "$.name"},
                    "End": True,
                }
            },
        },
        {"name": f"child-of-{child}"},
    )

    outcome = await raw.result(wf)

    assert outcome["status"] == "COMPLETED"
    assert outcome["result"]["ExecutionArn"].startswith(f"child-of-{child}:")
    assert (await raw.describe(f"child-of-{child}"))["status"] == "RUNNING"


async def test_http_invoke_refuses_a_private_address_the_namespace_does_not_allow(tenant):
    raw = Raw(tenant)
    wf = await run_definition(
        tenant,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::http:invoke",
                    "Parameters": {"ApiEndpoint": "http://10.255.255.1/admin", "Method": "GET"},
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Refused"}
                    ],
                    "End": True,
                },
                "Refused": {"Type": "Pass", "End": True},
            },
        },
        {},
    )

    outcome = await raw.result(wf, wait=20)

    assert outcome["result"]["error"]["Error"] == "States.Http.Socket"
    assert "allow private network targets" in outcome["result"]["error"]["Cause"]
