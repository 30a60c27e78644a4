"""The list filter language on `GET …/workflows?query=` and `…/workflow-count?query=`: every
operator, precedence, quoting, values of each type, ordering, grouping, and errors with their
position. One namespace of six runs, made once, is the data every case reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, Tenant, new_tenant
from tests.engine_helpers import command, fail_workflow, register_search_attributes
from tests.rawhttp import Raw, complete_workflow
from tests.tenancy_helpers import assert_problem

TYPES = {
    "CustomerId": "Keyword",
    "Amount": "Double",
    "Priority": "Int",
    "Urgent": "Bool",
    "DueAt": "Datetime",
    "Tags": "KeywordList",
    "Notes": "Text",
}
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "pay-1": (
        "Payment",
        {
            "CustomerId": "c-42",
            "Amount": 10.5,
            "Priority": 1,
            "Urgent": True,
            "DueAt": "2024-05-01T00:00:00Z",
            "Tags": ["red", "blue"],
            "Notes": "refund requested by customer",
        },
    ),
    "pay-2": (
        "Payment",
        {
            "CustomerId": "c-7",
            "Amount": 99,
            "Priority": 5,
            "Urgent": False,
            "DueAt": "2024-06-01T12:00:00+02:00",
            "Tags": ["green"],
            "Notes": "my-business-id-foobar",
        },
    ),
    "pay-3": ("Payment", {"CustomerId": "it's", "Amount": -3, "Priority": -2, "Tags": ["red"]}),
    "ref-1": ("Refund", {"CustomerId": "c-42"}),
    "ref-2": ("Refund", {"Notes": "Payment failed yesterday"}),
    "ord-1": ("Order", {}),
}
# How each run ends up: pay-2 terminated, pay-3 completed, ref-2 failed; the rest run.
ALL = set(RUNS)
OPEN = {"pay-1", "ref-1", "ord-1"}
CLOSED = ALL - OPEN


@dataclass
class Dataset:
    tenant: Tenant
    run_ids: dict[str, str]


@pytest.fixture(scope="module")
async def data(server: RunningServer) -> AsyncIterator[Dataset]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
        tenant = await new_tenant(http)
    await register_search_attributes(tenant, **TYPES)
    run_ids = {}
    for workflow_id, (workflow_type, attributes) in RUNS.items():
        raw = Raw(tenant, task_queue=f"q-{workflow_id}")
        started = await raw.start(
            workflow_id, workflow_type=workflow_type, search_attributes=attributes
        )
        run_ids[workflow_id] = started["run_id"]
        if workflow_id == "pay-3":
            await raw.complete(await raw.next_workflow_task(), complete_workflow("ok"))
        elif workflow_id == "ref-2":
            await raw.complete(await raw.next_workflow_task(), fail_workflow("no"))
        elif workflow_id == "pay-2":
            r = await tenant.client.post(tenant.ns("/workflows/pay-2/terminate"), json={})
            assert r.status_code == 200, r.text
    yield Dataset(tenant, run_ids)
    await tenant.client.aclose()


async def matching(tenant: Tenant, query: str, **params: Any) -> set[str]:
    listed = await tenant.client.get(tenant.ns("/workflows"), params={"query": query, **params})
    assert listed.status_code == 200, listed.text
    counted = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"query": query, **params}
    )
    assert counted.status_code == 200, counted.text
    found = [w["workflow_id"] for w in listed.json()["workflows"]]
    assert counted.json() == {"count": len(found), "groups": []}
    return set(found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # system attributes, each comparison
        ("WorkflowType = 'Payment'", {"pay-1", "pay-2", "pay-3"}),
        ("WorkflowType != 'Payment'", {"ref-1", "ref-2", "ord-1"}),
        ("WorkflowType <> 'Payment'", {"ref-1", "ref-2", "ord-1"}),
        ("WorkflowId > 'pay-2'", {"pay-3", "ref-1", "ref-2"}),
        ("WorkflowId >= 'pay-2'", {"pay-2", "pay-3", "ref-1", "ref-2"}),
        ("WorkflowId < 'pay-2'", {"ord-1", "pay-1"}),
        ("WorkflowId <= 'ord-1'", {"ord-1"}),
        ("WorkflowId IN ('pay-1', \"ref-1\")", {"pay-1", "ref-1"}),
        ("WorkflowId NOT IN ('pay-1', 'ref-1')", ALL - {"pay-1", "ref-1"}),
        ("WorkflowId BETWEEN 'pay-' AND 'pay-~'", {"pay-1", "pay-2", "pay-3"}),
        ("WorkflowId NOT BETWEEN 'pay-' AND 'pay-~'", {"ref-1", "ref-2", "ord-1"}),
        ("WorkflowId STARTS_WITH 're'", {"ref-1", "ref-2"}),
        ("WorkflowId NOT STARTS_WITH 'pay-'", {"ref-1", "ref-2", "ord-1"}),
        ("TaskQueue = 'q-ord-1'", {"ord-1"}),
        ("RootWorkflowId = 'pay-1'", {"pay-1"}),
        ("ParentWorkflowId IS NULL", ALL),
        ("ParentWorkflowId IS NOT NULL", set()),
        ("HistoryLength > 0", ALL),
        # ExecutionStatus, as Temporal spells it and as this API does
        ("ExecutionStatus = 'Running'", OPEN),
        ("ExecutionStatus = 'RUNNING'", OPEN),
        ("ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_RUNNING'", OPEN),
        ("ExecutionStatus = 1", OPEN),
        ("ExecutionStatus != 'Running'", CLOSED),
        ("ExecutionStatus IN ('Terminated', 'Completed')", {"pay-2", "pay-3"}),
        ("ExecutionStatus NOT IN ('Terminated', 'Completed', 'Running')", {"ref-2"}),
        # times
        ("CloseTime IS NULL", OPEN),
        ("CloseTime IS NOT NULL", CLOSED),
        ("StartTime > NOW() - 1h AND StartTime <= NOW()", ALL),
        ("StartTime < NOW() - 1d2h", set()),
        ("ExecutionTime >= '2020-01-01T00:00:00Z'", ALL),
        ("CloseTime BETWEEN '2020-01-01T00:00:00.000000001Z' AND NOW() + 1h", CLOSED),
        ("ExecutionDuration >= 0", CLOSED),
        ("ExecutionDuration < '1h'", CLOSED),
        ("ExecutionDuration > '00:10:00'", set()),
        ("ExecutionDuration IS NULL", OPEN),
        # Keyword
        ("CustomerId = 'c-42'", {"pay-1", "ref-1"}),
        ("CustomerId != 'c-42'", {"pay-2", "pay-3"}),
        ("NOT CustomerId = 'c-42'", {"pay-2", "pay-3"}),
        ("CustomerId = 'it''s'", {"pay-3"}),
        ("CustomerId = 'it\\'s'", {"pay-3"}),
        ('CustomerId = "it\'s"', {"pay-3"}),
        ("CustomerId STARTS_WITH 'c-'", {"pay-1", "pay-2", "ref-1"}),
        ("CustomerId NOT STARTS_WITH 'c-4'", {"pay-2", "pay-3"}),
        ("CustomerId > 'c-5'", {"pay-2", "pay-3"}),
        ("CustomerId IS NULL", {"ref-2", "ord-1"}),
        ("CustomerId IS NOT NULL", {"pay-1", "pay-2", "pay-3", "ref-1"}),
        ("`CustomerId` IN ('c-7', 'nobody')", {"pay-2"}),
        # Double and Int, ordered as numbers
        ("Amount > 10", {"pay-1", "pay-2"}),
        ("Amount < 0", {"pay-3"}),
        ("Amount = 99", {"pay-2"}),
        ("Amount >= '10.5'", {"pay-1", "pay-2"}),
        ("Amount BETWEEN 10 AND 20", {"pay-1"}),
        ("Amount NOT BETWEEN 10 AND 20", {"pay-2", "pay-3"}),
        ("Amount >= -3.0e0 AND Amount < 1E1", {"pay-3"}),
        ("Priority > -3 AND Priority < 5", {"pay-1", "pay-3"}),
        ("Priority IN (1, 5)", {"pay-1", "pay-2"}),
        ("Priority NOT IN (1, 5)", {"pay-3"}),
        # Bool
        ("Urgent = true", {"pay-1"}),
        ("Urgent = FALSE", {"pay-2"}),
        ("Urgent != true", {"pay-2"}),
        # Datetime: RFC 3339 with any offset, nanoseconds since the epoch
        ("DueAt > '2024-05-15T00:00:00Z'", {"pay-2"}),
        ("DueAt = '2024-06-01T10:00:00Z'", {"pay-2"}),
        ("DueAt = '2024-06-01T06:00:00-04:00'", {"pay-2"}),
        ("DueAt < 1717236000000000000", {"pay-1"}),
        ("DueAt BETWEEN '2024-04-30T00:00:00Z' AND '2024-05-01T00:00:00.123456789Z'", {"pay-1"}),
        # KeywordList: = holds the value, IN holds any, != and NOT IN hold none
        ("Tags = 'red'", {"pay-1", "pay-3"}),
        ("Tags IN ('green', 'blue')", {"pay-1", "pay-2"}),
        ("Tags != 'red'", {"pay-2"}),
        ("Tags NOT IN ('red', 'green')", set()),
        ("Tags IS NULL", {"ref-1", "ref-2", "ord-1"}),
        # Text: word match, any word, any case
        ("Notes = 'foobar'", {"pay-2"}),
        ("Notes = 'foo'", set()),
        ("Notes = 'REFUND yesterday'", {"pay-1", "ref-2"}),
        ("Notes != 'refund'", {"pay-2", "ref-2"}),
        ("Notes = 'refund' OR Notes = 'foobar'", {"pay-1", "pay-2"}),
        # predefined attributes, also without their Temporal prefix
        ("TemporalScheduledById IS NULL", ALL),
        ("ScheduledById = 'nightly'", set()),
        # precedence: NOT, then AND, then OR; parentheses; keywords in any case
        (
            "WorkflowType = 'Payment' AND ExecutionStatus = 'Running' OR WorkflowType = 'Order'",
            {"pay-1", "ord-1"},
        ),
        (
            "WorkflowType = 'Payment' AND (ExecutionStatus = 'Running' OR WorkflowType = 'Order')",
            {"pay-1"},
        ),
        (
            "WorkflowType = 'Order' OR WorkflowType = 'Refund' AND ExecutionStatus = 'Failed'",
            {"ord-1", "ref-2"},
        ),
        ("NOT WorkflowType = 'Payment' AND NOT WorkflowType = 'Order'", {"ref-1", "ref-2"}),
        ("NOT (WorkflowType = 'Payment' OR WorkflowType = 'Refund')", {"ord-1"}),
        ("NOT NOT WorkflowType = 'Order'", {"ord-1"}),
        ("workflowtype = 'x' or WorkflowType = 'Order'", None),
        (
            "WorkflowType = 'Payment' and CustomerId = 'c-42' or Notes = 'yesterday'",
            {"pay-1", "ref-2"},
        ),
        ("", ALL),
    ],
)
async def test_a_filter_matches_exactly_its_runs_in_list_and_count(data, query, expected):
    if expected is None:  # names are case-sensitive: 'workflowtype' is no attribute
        r = await data.tenant.client.get(data.tenant.ns("/workflows"), params={"query": query})
        problem = assert_problem(r, 400, "invalid-argument")
        assert problem["position"] == 0
        return
    assert await matching(data.tenant, query) == expected


async def test_run_ids_match_by_equality(data):
    run_id = data.run_ids["ref-2"]
    assert await matching(data.tenant, f"RunId = '{run_id}'") == {"ref-2"}


async def test_the_old_parameters_still_filter_and_combine_with_the_query_by_and(data):
    tenant = data.tenant
    assert await matching(tenant, "WorkflowType = 'Payment'", status="RUNNING") == {"pay-1"}
    assert await matching(tenant, "CustomerId = 'c-42'", workflow_id_prefix="ref") == {"ref-1"}
    assert await matching(tenant, "", search_attribute="CustomerId=c-42") == {"pay-1", "ref-1"}
    assert await matching(tenant, "", search_attribute="Priority=5") == {"pay-2"}
    assert await matching(tenant, "", search_attribute='Tags=["red","blue"]') == {"pay-1"}
    assert await matching(tenant, "Amount > 0", workflow_type="Payment") == {"pay-1", "pay-2"}
    bad = await tenant.client.get(tenant.ns("/workflows"), params={"search_attribute": "Nope=1"})
    assert assert_problem(bad, 400, "invalid-argument")["field"] == "search_attribute"


async def test_count_groups_by_execution_status_with_temporals_names(data):
    r = await data.tenant.client.get(
        data.tenant.ns("/workflow-count"), params={"query": "GROUP BY ExecutionStatus"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 6
    groups = {g["group_values"][0]: g["count"] for g in r.json()["groups"]}
    assert groups == {"Running": 3, "Terminated": 1, "Completed": 1, "Failed": 1}
    assert r.json()["groups"][0] == {"group_values": ["Running"], "count": 3}

    filtered = await data.tenant.client.get(
        data.tenant.ns("/workflow-count"),
        params={"query": "WorkflowType = 'Payment' GROUP BY ExecutionStatus"},
    )
    assert filtered.json()["count"] == 3
    assert {g["group_values"][0] for g in filtered.json()["groups"]} == {
        "Running",
        "Terminated",
        "Completed",
    }


async def pages(tenant: Tenant, query: str, page_size: int) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(20):
        params: dict[str, Any] = {"query": query, "page_size": page_size}
        if token:
            params["next_page_token"] = token
        r = await tenant.client.get(tenant.ns("/workflows"), params=params)
        assert r.status_code == 200, r.text
        seen += [w["workflow_id"] for w in r.json()["workflows"]]
        token = r.json()["next_page_token"]
        if not token:
            return seen
    raise AssertionError("pagination did not end")


async def test_order_by_times_pages_through_every_run_once(data):
    tenant = data.tenant
    newest_first = await pages(tenant, "", 4)
    assert newest_first == list(reversed(RUNS))  # started in RUNS order
    assert await pages(tenant, "ORDER BY StartTime ASC", 4) == list(RUNS)
    assert await pages(tenant, "order by StartTime", 5) == list(RUNS)
    assert await pages(tenant, "ORDER BY ExecutionTime DESC", 2) == list(reversed(RUNS))
    # Temporal's CloseTime order: open runs first (newest started first), then by close time.
    closing = await pages(tenant, "ORDER BY CloseTime DESC", 2)
    assert closing == ["ord-1", "ref-1", "pay-1", "ref-2", "pay-3", "pay-2"]
    assert await pages(tenant, "ORDER BY CloseTime ASC", 4) == list(reversed(closing))
    assert await pages(tenant, "WorkflowType = 'Payment' ORDER BY CloseTime DESC", 1) == [
        "pay-1",
        "pay-3",
        "pay-2",
    ]


async def test_a_page_token_of_another_ordering_is_refused(data):
    tenant = data.tenant
    first = await tenant.client.get(
        tenant.ns("/workflows"), params={"query": "ORDER BY StartTime ASC", "page_size": 1}
    )
    token = first.json()["next_page_token"]
    other = await tenant.client.get(
        tenant.ns("/workflows"), params={"page_size": 1, "next_page_token": token}
    )
    assert_problem(other, 400, "invalid-argument")


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("WorkflowType = ", 15, "end of query"),
        ("WorkflowType = 'Payment' LIMIT 5", 25, "'LIMIT'"),
        ("WorkflowType = 'a' AND", 22, "end of query"),
        ("(WorkflowType = 'a'", 19, "expected ')'"),
        ("WorkflowType ~ 'a'", 13, "'~'"),
        ("WorkflowType = 'unterminated", 15, "unexpected"),
        ("WorkflowType = Payment", 15, "'Payment'"),
        ("WorkflowType =\n  'a' 'b'", 21, "unexpected"),
        ("Nope = 'x'", 0, "not a search attribute"),
        ("CustomerId = 'a' AND Nope = 'x'", 21, "not a search attribute"),
        ("Amount = 'abc'", 9, "not a number"),
        ("Priority = 1.5", 11, "not an integer"),
        ("Urgent > true", 0, "Bool supports = and !="),
        ("Urgent = 'maybe'", 9, "not true or false"),
        ("DueAt = 'yesterday'", 8, "not a datetime"),
        ("DueAt = '2024-05-01'", 8, "not a datetime"),
        ("StartTime > NOW() - 3fortnights", 12, "not a duration"),
        ("Notes STARTS_WITH 'x'", 0, "Text"),
        ("Notes > 'x'", 0, "Text"),
        ("Tags > 'a'", 0, "KeywordList"),
        ("Amount STARTS_WITH '1'", 0, "only for Keyword"),
        ("CustomerId = 5", 13, "not a 'string'"),
        ("ExecutionStatus = 'Sleeping'", 18, "not an execution status"),
        ("ExecutionStatus > 'Running'", 0, "ExecutionStatus"),
        ("WorkflowType = 'a' GROUP BY ExecutionStatus", 28, "only for counts"),
        ("ORDER BY WorkflowType", 9, "ORDER BY supports"),
    ],
)
async def test_a_bad_query_is_a_400_problem_at_its_position(data, query, position, words):
    r = await data.tenant.client.get(data.tenant.ns("/workflows"), params={"query": query})

    problem = assert_problem(r, 400, "invalid-argument")
    assert problem["field"] == "query"
    assert problem["position"] == position, problem
    assert words in problem["detail"]


async def test_count_groups_only_by_execution_status(data):
    r = await data.tenant.client.get(
        data.tenant.ns("/workflow-count"), params={"query": "GROUP BY WorkflowType"}
    )
    problem = assert_problem(r, 400, "invalid-argument")
    assert problem["position"] == 9


async def test_a_syntax_error_gives_line_and_column(data):
    r = await data.tenant.client.get(
        data.tenant.ns("/workflows"), params={"query": "WorkflowType = 'a'\nAND AND"}
    )
    problem = assert_problem(r, 400, "invalid-argument")
    assert (problem["position"], problem["line"], problem["column"]) == (23, 2, 5)


async def test_upserted_and_removed_attributes_are_what_queries_see(tenant):
    await register_search_attributes(tenant, **TYPES)
    raw = Raw(tenant, task_queue="q-upsert")
    await raw.start("upsert-1", search_attributes={"CustomerId": "c-1"})
    await raw.complete(
        await raw.next_workflow_task(),
        command(
            "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
            search_attributes={"CustomerId": None, "Tags": ["x", "y"], "Notes": "late words"},
        ),
    )

    assert await matching(tenant, "CustomerId IS NULL AND Tags = 'y'") == {"upsert-1"}
    assert await matching(tenant, "Notes = 'words'") == {"upsert-1"}
    assert await matching(tenant, "CustomerId = 'c-1'") == set()
