"""Removing a custom search attribute (Temporal's RemoveSearchAttributes): the name leaves the
namespace's list, filters, starts and upserts naming it are refused, and runs' values of it go
with it, so registering it again starts empty. System and predefined attributes stay."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import keyed_client
from tests.engine_helpers import command, of_type, register_search_attributes, uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem, create_key


async def listed_ids(tenant, query: str) -> list[str]:
    r = await tenant.client.get(tenant.ns("/workflows"), params={"query": query})
    assert r.status_code == 200, r.text
    return sorted(w["workflow_id"] for w in r.json()["workflows"])


async def test_a_removed_attribute_leaves_the_list_the_filters_and_every_run(tenant):
    await register_search_attributes(tenant, Region="Keyword", Notes="Text", Score="Int")
    raw = Raw(tenant, task_queue=uid("q"))
    for wid, region in (("eu-1", "eu"), ("eu-2", "eu"), ("us-1", "us")):
        await raw.start(
            wid, search_attributes={"Region": region, "Notes": "some words", "Score": 3}
        )
    assert await listed_ids(tenant, "Region = 'eu'") == ["eu-1", "eu-2"]

    removed = await tenant.client.delete(tenant.ns("/search-attributes/Region"))
    texts_removed = await tenant.client.delete(tenant.ns("/search-attributes/Notes"))

    assert removed.status_code == 200, removed.text
    assert removed.json()["custom_attributes"] == {"Notes": "Text", "Score": "Int"}
    assert texts_removed.json()["custom_attributes"] == {"Score": "Int"}
    listed = await tenant.client.get(tenant.ns("/search-attributes"))
    assert listed.json()["custom_attributes"] == {"Score": "Int"}
    for query in ("Region = 'eu'", "Notes = 'words'"):
        r = await tenant.client.get(tenant.ns("/workflows"), params={"query": query})
        assert_problem(r, 400, "invalid-argument")
    for wid in ("eu-1", "eu-2", "us-1"):
        assert (await raw.describe(wid))["search_attributes"] == {"Score": 3}
    everything = await tenant.client.get(tenant.ns("/workflows"))
    assert [w["search_attributes"] for w in everything.json()["workflows"]] == [{"Score": 3}] * 3
    refused = await tenant.client.post(
        tenant.ns("/workflows/late"),
        json={"workflow_type": "T", "task_queue": raw.q, "search_attributes": {"Region": "eu"}},
    )
    assert assert_problem(refused, 400, "invalid-argument")["cause"] == "BAD_SEARCH_ATTRIBUTES"


async def test_an_upsert_of_a_removed_attribute_fails_the_workflow_task(tenant):
    await register_search_attributes(tenant, Stage="Keyword")
    raw = Raw(tenant, task_queue=uid("q"))
    wid = uid()
    await raw.start(wid, search_attributes={"Stage": "new"})
    task = await raw.next_workflow_task()
    r = await tenant.client.delete(tenant.ns("/search-attributes/Stage"))
    assert r.status_code == 200, r.text

    upsert = command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", search_attributes={"Stage": "done"})
    await raw.complete(task, upsert, expect=400)

    failed = of_type(await raw.history(wid), "WORKFLOW_TASK_FAILED")
    assert [f["attributes"]["cause"] for f in failed] == ["BAD_SEARCH_ATTRIBUTES"]
    assert (await raw.describe(wid))["search_attributes"] == {}


async def test_history_keeps_what_it_recorded(tenant):
    await register_search_attributes(tenant, Region="Keyword")
    raw = Raw(tenant, task_queue=uid("q"))
    await raw.start("kept", search_attributes={"Region": "eu"})
    r = await tenant.client.delete(tenant.ns("/search-attributes/Region"))
    assert r.status_code == 200, r.text

    started = of_type(await raw.history("kept"), "WORKFLOW_EXECUTION_STARTED")[0]
    assert started["attributes"]["search_attributes"] == {"Region": "eu"}


async def test_a_removal_reaches_every_run_past_one_batch(tenant):
    # One more run than the removal rewrites per statement (app/engine/search_attributes.py).
    runs = 201
    await register_search_attributes(tenant, Region="Keyword", Score="Int")
    raw = Raw(tenant, task_queue=uid("q"))
    for first in range(0, runs, 50):
        await asyncio.gather(
            *(
                raw.start(f"r-{i}", search_attributes={"Region": "eu", "Score": 1})
                for i in range(first, min(first + 50, runs))
            )
        )

    r = await tenant.client.delete(tenant.ns("/search-attributes/Region"))
    assert r.status_code == 200, r.text
    await register_search_attributes(tenant, Region="Keyword")

    listed = await tenant.client.get(tenant.ns("/workflows"), params={"page_size": 1000})
    shown = [w["search_attributes"] for w in listed.json()["workflows"]]
    assert shown == [{"Score": 1}] * runs
    assert await listed_ids(tenant, "Region IS NOT NULL") == []


@pytest.mark.parametrize("again", ["Keyword", "Int"])
async def test_an_attribute_registered_again_starts_empty(tenant, again):
    await register_search_attributes(tenant, Region="Keyword")
    raw = Raw(tenant, task_queue=uid("q"))
    await raw.start("before", search_attributes={"Region": "eu"})
    r = await tenant.client.delete(tenant.ns("/search-attributes/Region"))
    assert r.status_code == 200, r.text

    await register_search_attributes(tenant, Region=again)
    value = "eu" if again == "Keyword" else 7
    await raw.start("after", search_attributes={"Region": value})

    assert await listed_ids(tenant, "Region IS NOT NULL") == ["after"]
    assert (await raw.describe("before"))["search_attributes"] == {}
    assert (await raw.describe("after"))["search_attributes"] == {"Region": value}


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("WorkflowId", 400, "invalid-argument"),
        ("ExecutionStatus", 400, "invalid-argument"),
        ("TemporalChangeVersion", 400, "invalid-argument"),
        ("NotRegistered", 404, "not-found"),
    ],
)
async def test_system_predefined_or_unknown_names_are_refused_and_change_nothing(
    tenant, name, status, kind
):
    await register_search_attributes(tenant, Region="Keyword")
    raw = Raw(tenant, task_queue=uid("q"))
    await raw.start("kept", search_attributes={"Region": "eu"})

    r = await tenant.client.delete(tenant.ns(f"/search-attributes/{name}"))

    assert assert_problem(r, status, kind)["search_attribute"] == name
    listed = (await tenant.client.get(tenant.ns("/search-attributes"))).json()
    assert listed["custom_attributes"] == {"Region": "Keyword"}
    assert "TemporalChangeVersion" in listed["system_attributes"]
    assert await listed_ids(tenant, "Region = 'eu'") == ["kept"]


async def test_only_admins_remove_and_other_tenants_see_no_namespace(tenant, other_tenant):
    await register_search_attributes(tenant, Region="Keyword")
    operator = await create_key(tenant.client, "operator")
    async with keyed_client(tenant.client, operator["key"]) as as_operator:
        refused = await as_operator.delete(tenant.ns("/search-attributes/Region"))
    theirs = await other_tenant.client.delete(tenant.ns("/search-attributes/Region"))

    assert_problem(refused, 403, "permission-denied")
    # The other tenant's own namespace of the same name has no such attribute.
    assert_problem(theirs, 404, "not-found")
    listed = await tenant.client.get(tenant.ns("/search-attributes"))
    assert listed.json()["custom_attributes"] == {"Region": "Keyword"}


async def test_removal_in_one_namespace_leaves_another_namespace_alone(tenant):
    second = await tenant.client.post("/api/v1/namespaces", json={"name": "second"})
    assert second.status_code == 201
    elsewhere = "/api/v1/namespaces/second"
    for path in (tenant.ns(), elsewhere):
        r = await tenant.client.post(
            f"{path}/search-attributes", json={"search_attributes": {"Region": "Keyword"}}
        )
        assert r.status_code == 200, r.text
        r = await tenant.client.post(
            f"{path}/workflows/w",
            json={"workflow_type": "T", "task_queue": "q", "search_attributes": {"Region": "eu"}},
        )
        assert r.status_code == 201, r.text

    r = await tenant.client.delete(tenant.ns("/search-attributes/Region"))
    assert r.status_code == 200, r.text

    there = await tenant.client.get(f"{elsewhere}/workflows", params={"query": "Region = 'eu'"})
    assert [w["workflow_id"] for w in there.json()["workflows"]] == ["w"]
    described = await tenant.client.get(f"{elsewhere}/workflows/w")
    assert described.json()["search_attributes"] == {"Region": "eu"}
