"""Step Functions' aliases for stored definitions: routing new runs to one or two versions."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from app.definitions import aliases
from app.definitions.aliases import Route, choose_version
from tests.conftest import Tenant
from tests.console.test_console_sessions import sign_in_form
from tests.definitions_helpers import start, store, task
from tests.rawhttp import Raw


def answering(value: str) -> dict:
    return {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": value, "End": True}}}


async def two_versions(tenant) -> str:
    """A definition whose version 1 answers "v1" and version 2 "v2"."""
    name = await store(tenant, answering("v1"))
    r = await tenant.client.put(tenant.ns(f"/definitions/{name}"), json=answering("v2"))
    assert r.json()["version"] == 2
    return name


async def put_alias(tenant, name: str, alias: str, *routes: tuple[int, int], expect: int = 201):
    r = await tenant.client.put(
        tenant.ns(f"/definitions/{name}/aliases/{alias}"),
        json={"routing": [{"version": v, "weight": w} for v, w in routes]},
    )
    assert r.status_code == expect, r.text
    return r.json()


async def version_of(tenant, workflow_id: str) -> dict:
    return (await Raw(tenant).describe(workflow_id))["definition"]


@pytest.fixture
def seeded():
    """Starts draw their versions from a seeded source (restored afterwards)."""
    previous = aliases.use_source(random.Random(7))
    yield
    aliases.use_source(previous)


def test_a_seeded_draw_splits_ten_thousand_starts_exactly():
    draws = random.Random(2026)
    routing = [Route(1, 30), Route(2, 70)]
    chosen = [choose_version(routing, draws.random()) for _ in range(10_000)]
    assert (chosen.count(1), chosen.count(2)) == (3033, 6967)
    assert {choose_version([Route(4, 100)], draws.random()) for _ in range(100)} == {4}
    assert {choose_version([Route(1, 0), Route(2, 100)], draws.random()) for _ in range(100)} == {2}


async def test_a_start_through_an_alias_runs_its_version_and_records_the_alias(tenant):
    name = await two_versions(tenant)
    answer = await put_alias(tenant, name, "prod", (1, 100))
    assert answer["routing"] == [{"version": 1, "weight": 100}]
    workflow_id = await start(tenant, name, alias="prod")
    assert (await Raw(tenant).result(workflow_id))["result"] == "v1"
    assert await version_of(tenant, workflow_id) == {
        "name": name,
        "version": 1,
        "alias": "prod",
        "current_states": [],
    }


async def test_fifty_real_starts_agree_with_the_seeded_draw(tenant, seeded):
    name = await two_versions(tenant)
    await put_alias(tenant, name, "canary", (1, 30), (2, 70))
    draws = random.Random(7)
    expected = [choose_version([Route(1, 30), Route(2, 70)], draws.random()) for _ in range(50)]
    started = [await start(tenant, name, alias="canary") for _ in range(50)]
    assert [(await version_of(tenant, w))["version"] for w in started] == expected
    assert 0 < expected.count(1) < 50


async def test_changing_an_alias_never_moves_a_running_run(tenant):
    name = await store(tenant, {"StartAt": "T", "States": {"T": task("nobody-polls", End=True)}})
    await tenant.client.put(
        tenant.ns(f"/definitions/{name}"),
        json={"StartAt": "T", "States": {"T": task("nobody-polls-2", End=True)}},
    )
    await put_alias(tenant, name, "prod", (1, 100))
    running = await start(tenant, name, alias="prod")
    updated = await put_alias(tenant, name, "prod", (2, 100), expect=200)
    assert updated["routing"] == [{"version": 2, "weight": 100}]
    assert (await version_of(tenant, running))["version"] == 1
    assert (await version_of(tenant, await start(tenant, name, alias="prod")))["version"] == 2


async def test_a_definition_an_alias_routes_to_cannot_be_deleted(tenant):
    name = await two_versions(tenant)
    await put_alias(tenant, name, "prod", (2, 100))
    refused = await tenant.client.delete(tenant.ns(f"/definitions/{name}"))
    assert refused.status_code == 409
    assert refused.json()["aliases"] == ["prod"]
    assert (await tenant.client.get(tenant.ns(f"/definitions/{name}"))).status_code == 200
    listed = await tenant.client.get(tenant.ns(f"/definitions/{name}/aliases"))
    assert [a["alias"] for a in listed.json()["aliases"]] == ["prod"]
    gone = await tenant.client.delete(tenant.ns(f"/definitions/{name}/aliases/prod"))
    assert gone.status_code == 204
    assert (await tenant.client.delete(tenant.ns(f"/definitions/{name}"))).status_code == 204


@pytest.mark.parametrize(
    ("alias", "routing", "field"),
    [
        ("2024", [{"version": 1, "weight": 100}], "alias"),
        ("prod", [{"version": 1, "weight": 50}, {"version": 2, "weight": 40}], "routing"),
        ("prod", [{"version": 1, "weight": 50}, {"version": 1, "weight": 50}], "routing"),
        ("prod", [{"version": 3, "weight": 100}], "routing[0].version"),
        ("prod", [], None),
        ("prod", [{"version": 1, "weight": 101}], None),
        ("prod", [{"version": 1, "weight": 34}] * 3, None),
        ("prod", [{"version": 1, "weight": 100.5}], None),
    ],
)
async def test_bad_aliases_are_refused_and_change_nothing(tenant, alias, routing, field):
    name = await two_versions(tenant)
    r = await tenant.client.put(
        tenant.ns(f"/definitions/{name}/aliases/{alias}"), json={"routing": routing}
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert r.json()["field"] == field
    listed = await tenant.client.get(tenant.ns(f"/definitions/{name}/aliases"))
    assert listed.json()["aliases"] == []


async def test_bad_starts_through_aliases_are_problems(tenant):
    name = await two_versions(tenant)
    await put_alias(tenant, name, "prod", (1, 100))
    for ref, status in (
        ({"alias": "nope"}, 404),
        ({"alias": "prod", "version": 1}, 400),
        ({"alias": "123"}, 400),
    ):
        r = await tenant.client.post(
            tenant.ns(f"/workflows/wf-{uuid.uuid4().hex[:8]}"),
            json={"definition": {"name": name, **ref}},
        )
        assert r.status_code == status, (ref, r.text)
    missing = await tenant.client.put(
        tenant.ns("/definitions/no-such/aliases/prod"),
        json={"routing": [{"version": 1, "weight": 100}]},
    )
    assert missing.status_code == 404


async def test_another_tenant_sees_no_alias(tenant, other_tenant):
    name = await two_versions(tenant)
    await put_alias(tenant, name, "prod", (1, 100))
    for path in (f"/definitions/{name}/aliases", f"/definitions/{name}/aliases/prod"):
        assert (await other_tenant.client.get(other_tenant.ns(path))).status_code == 404
    r = await other_tenant.client.delete(other_tenant.ns(f"/definitions/{name}/aliases/prod"))
    assert r.status_code == 404


async def test_a_state_machine_arn_qualified_by_an_alias_starts_the_child_through_it(tenant):
    raw = Raw(tenant)
    child = await two_versions(tenant)
    await put_alias(tenant, child, "prod", (2, 100))
    parent = await store(
        tenant,
        {
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {
                        "StateMachineArn": f"arn:aws:states:us-east-1:1:stateMachine:{child}:prod"
                    },
                    "OutputPath": "$.Output",
                    "End": True,
                }
            },
        },
    )
    workflow_id = await start(tenant, parent)
    assert (await raw.result(workflow_id))["result"] == "v2"
    [started] = [
        e
        for e in await raw.history(workflow_id)
        if e["event_type"] == "CHILD_WORKFLOW_EXECUTION_STARTED"
    ]
    child_id = started["attributes"]["workflow_execution"]["workflow_id"]
    assert (await version_of(tenant, child_id))["alias"] == "prod"


async def test_the_console_shows_a_definitions_aliases_with_their_weights(server, tenant):
    name = await two_versions(tenant)
    await put_alias(tenant, name, "canary", (1, 90), (2, 10))
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        page = await browser.get(f"/console/n/{tenant.namespace}/definitions/{name}")
        workflow_id = await start(tenant, name, alias="canary")
        described = await Raw(tenant).describe(workflow_id)
        run_page = await browser.get(
            f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{described['run_id']}"
        )
    assert run_page.status_code == 200
    assert "through alias <code>canary</code>" in run_page.text
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "<code>canary</code>" in text
    assert "version 1</a> (90 %)" in text and "version 2</a> (10 %)" in text


async def test_a_namespace_with_aliases_can_be_deleted(tenant):
    made = await tenant.client.post("/api/v1/namespaces", json={"name": "short-lived"})
    assert made.status_code == 201, made.text
    other = Tenant(tenant.name, tenant.admin_key, "short-lived", tenant.client)
    name = await two_versions(other)
    await put_alias(other, name, "prod", (1, 50), (2, 50))
    gone = await tenant.client.delete("/api/v1/namespaces/short-lived")
    assert gone.status_code == 204, gone.text
    assert (await tenant.client.get(other.ns(f"/definitions/{name}/aliases"))).status_code == 404
