"""Typed search attributes: a namespace registers them, starts and upserts are checked against
their types (unregistered names refused, as Temporal refuses them), and queries stay inside
their namespace."""

from __future__ import annotations

import pytest

from tests.conftest import keyed_client
from tests.engine_helpers import command, of_type, register_search_attributes, uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem, create_key

GOOD_AND_BAD = [
    ("Keyword", "c-42", 42),
    ("Text", "some words", ["some", "words"]),
    ("Int", -7, 1.5),
    ("Int", 9_223_372_036_854_775_807, True),
    ("Double", 2.5, "2.5"),
    ("Bool", True, "true"),
    ("Datetime", "2024-05-01T12:00:00.123456789+02:00", "2024-05-01"),
    ("KeywordList", ["a", "b"], [1, 2]),
]


@pytest.mark.parametrize(("sa_type", "good", "bad"), GOOD_AND_BAD)
async def test_a_start_is_checked_against_the_attributes_type(tenant, sa_type, good, bad):
    await register_search_attributes(tenant, Attr=sa_type)
    raw = Raw(tenant, task_queue=uid("q"))

    refused = await tenant.client.post(
        tenant.ns("/workflows/bad-start"),
        json={"workflow_type": "T", "task_queue": raw.q, "search_attributes": {"Attr": bad}},
    )
    started = await raw.start("good-start", search_attributes={"Attr": good})

    problem = assert_problem(refused, 400, "invalid-argument")
    assert problem["field"] == "search_attributes.Attr"
    assert problem["search_attribute_type"] == sa_type
    assert (await tenant.client.get(tenant.ns("/workflows/bad-start"))).status_code == 404
    assert (await raw.describe("good-start"))["search_attributes"] == {"Attr": good}
    listed = await tenant.client.get(tenant.ns("/workflows"), params={"query": "Attr IS NOT NULL"})
    assert [w["run_id"] for w in listed.json()["workflows"]] == [started["run_id"]]


async def test_an_unregistered_or_system_name_is_refused_on_start(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    for name in ("NotRegistered", "WorkflowId", "ExecutionStatus"):
        r = await tenant.client.post(
            tenant.ns("/workflows/refused"),
            json={"workflow_type": "T", "task_queue": raw.q, "search_attributes": {name: "x"}},
        )
        problem = assert_problem(r, 400, "invalid-argument")
        assert problem["cause"] == "BAD_SEARCH_ATTRIBUTES"
    # Temporal's predefined attributes need no registration.
    await raw.start("scheduled", search_attributes={"TemporalScheduledById": "nightly"})
    listed = await tenant.client.get(
        tenant.ns("/workflows"), params={"query": "ScheduledById = 'nightly'"}
    )
    assert [w["workflow_id"] for w in listed.json()["workflows"]] == ["scheduled"]


async def test_a_bad_upsert_fails_the_workflow_task_and_changes_nothing(tenant):
    await register_search_attributes(tenant, Stage="Keyword", Count="Int")
    raw = Raw(tenant, task_queue=uid("q"))
    wid = uid()
    await raw.start(wid, search_attributes={"Stage": "new"})
    task = await raw.next_workflow_task()

    for bad in ({"Count": "three"}, {"Unknown": 1}):
        await raw.complete(
            task,
            command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", search_attributes=bad),
            expect=400,
        )
        task = await raw.next_workflow_task()

    failed = of_type(await raw.history(wid), "WORKFLOW_TASK_FAILED")
    assert [f["attributes"]["cause"] for f in failed] == ["BAD_SEARCH_ATTRIBUTES"] * 2
    assert (await raw.describe(wid))["search_attributes"] == {"Stage": "new"}
    count = await tenant.client.get(tenant.ns("/workflow-count"), params={"query": "Count >= 0"})
    assert count.json()["count"] == 0


async def test_registering_is_idempotent_and_a_type_change_is_a_conflict(tenant):
    await register_search_attributes(tenant, CustomerId="Keyword", Score="int")
    await register_search_attributes(tenant, CustomerId="Keyword")

    changed = await tenant.client.post(
        tenant.ns("/search-attributes"), json={"search_attributes": {"CustomerId": "Text"}}
    )
    listed = await tenant.client.get(tenant.ns("/search-attributes"))

    assert assert_problem(changed, 409, "already-exists")["search_attribute_type"] == "Keyword"
    assert listed.json()["custom_attributes"] == {"CustomerId": "Keyword", "Score": "Int"}
    system = listed.json()["system_attributes"]
    assert system["ExecutionStatus"] == "Keyword"
    assert system["TemporalScheduledById"] == "Keyword"
    assert system["TemporalScheduledStartTime"] == "Datetime"


@pytest.mark.parametrize(
    "types",
    [
        {"WorkflowType": "Keyword"},
        {"TemporalAnything": "Keyword"},
        {"bad name": "Keyword"},
        {"Fine": "Blob"},
    ],
)
async def test_reserved_or_malformed_registrations_are_refused(tenant, types):
    r = await tenant.client.post(tenant.ns("/search-attributes"), json={"search_attributes": types})
    assert_problem(r, 400, "invalid-argument")
    listed = await tenant.client.get(tenant.ns("/search-attributes"))
    assert listed.json()["custom_attributes"] == {}


async def test_readers_list_search_attributes_and_only_operators_register(tenant):
    reader = await create_key(tenant.client, "reader")
    operator = await create_key(tenant.client, "operator")
    body = {"search_attributes": {"Region": "Keyword"}}
    async with keyed_client(tenant.client, reader["key"]) as as_reader:
        refused = await as_reader.post(tenant.ns("/search-attributes"), json=body)
        listed = await as_reader.get(tenant.ns("/search-attributes"))
    async with keyed_client(tenant.client, operator["key"]) as as_operator:
        added = await as_operator.post(tenant.ns("/search-attributes"), json=body)

    assert_problem(refused, 403, "permission-denied")
    assert listed.status_code == 200
    assert added.json()["custom_attributes"] == {"Region": "Keyword"}


async def test_queries_never_reach_another_namespace_or_tenant(tenant, other_tenant):
    second = await tenant.client.post("/api/v1/namespaces", json={"name": "second"})
    assert second.status_code == 201
    await register_search_attributes(tenant, Region="Keyword")
    raw = Raw(tenant, task_queue=uid("q"))
    await raw.start("mine", search_attributes={"Region": "eu"})
    elsewhere = "/api/v1/namespaces/second"
    theirs = other_tenant.ns("/workflows")

    in_second = await tenant.client.get(
        f"{elsewhere}/workflows", params={"query": "WorkflowId = 'mine'"}
    )
    unknown_there = await tenant.client.get(
        f"{elsewhere}/workflows", params={"query": "Region = 'eu'"}
    )
    other_tenant_sees = await other_tenant.client.get(
        theirs, params={"query": "WorkflowId = 'mine' OR WorkflowId != 'mine'"}
    )
    other_tenant_second = await other_tenant.client.get(
        f"{elsewhere}/workflows", params={"query": "WorkflowId = 'mine'"}
    )

    assert in_second.json()["workflows"] == []
    assert_problem(unknown_there, 400, "invalid-argument")
    assert other_tenant_sees.json()["workflows"] == []
    assert other_tenant_second.status_code == 404  # their tenant has no namespace 'second'
