"""Hostile and malformed inputs, by route family: each is a 4xx problem naming what is wrong,
the same on SQLite and PostgreSQL, and changes nothing that is stored (issue #12)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, Tenant, new_tenant
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
START = "/workflows/w-hostile"


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def start(extra: str) -> bytes:
    return ('{"workflow_type": "T", "task_queue": "q"' + extra + "}").encode()


def token(items: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(items).encode()).decode().rstrip("=")


def alias_bomb(levels: int = 8) -> str:
    """The issue's 533-byte document: a Pass state's Result built from `levels` levels of ten
    aliases each (10**levels strings once expanded)."""
    lines = ['      a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    previous = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"      {name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
        previous = name
    return "StartAt: P\nStates:\n  P:\n    Type: Pass\n    End: true\n    Result:\n" + (
        "\n".join(lines) + "\n"
    )


PASS = b'{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Result":%s}}}'

# (case, method, path under the namespace ("/…") or absolute ("!/api/…"), body, headers,
#  status, problem kind, the field named (a prefix is enough))
# fmt: off
CASES: list[tuple[str, str, str, bytes | None, dict[str, str], int, str, str | None]] = [
    # -- workflows --------------------------------------------------------------------------
    ("integer beyond 64 bits", "POST", START, start(', "input": 18446744073709551616'), JSON, 400, "invalid-argument", "input"),
    ("payload nested 300 deep", "POST", START, start(f', "input": {deep(300)}'), JSON, 400, "invalid-argument", "input"),
    ("body nested 100,000 deep", "POST", START, deep(100_000).encode(), JSON, 400, "invalid-argument", "body"),
    ("NaN", "POST", START, start(', "input": NaN'), JSON, 400, "invalid-argument", "input"),
    ("Infinity", "POST", START, start(', "input": [-Infinity]'), JSON, 400, "invalid-argument", "input.0"),
    ("1e400", "POST", START, start(', "input": 1e400'), JSON, 400, "invalid-argument", "input"),
    ("duplicate keys", "POST", START, start(', "task_queue": "r"'), JSON, 400, "invalid-argument", "task_queue"),
    ("invalid UTF-8", "POST", START, b'{"workflow_type": "T\xff", "task_queue": "q"}', JSON, 400, "invalid-argument", "body"),
    ("lone surrogate", "POST", START, start(', "input": "\\ud800"'), JSON, 400, "invalid-argument", "input"),
    ("NUL in workflow type", "POST", START, b'{"workflow_type": "T\\u0000", "task_queue": "q"}', JSON, 400, "invalid-argument", "workflow_type"),
    ("NUL in task queue", "POST", START, b'{"workflow_type": "T", "task_queue": "q\\u0000"}', JSON, 400, "invalid-argument", "task_queue"),
    ("NUL in workflow id", "POST", "/workflows/w%00x", start(""), JSON, 400, "invalid-argument", "workflow_id"),
    ("escape in workflow id", "POST", "/workflows/w%1Bx", start(""), JSON, 400, "invalid-argument", "workflow_id"),
    ("line feed in identity", "POST", START, start(', "identity": "a\\nb"'), JSON, 400, "invalid-argument", "identity"),
    ("syntax error", "POST", START, b'{"workflow_type": "T",\n "task_queue": q}', JSON, 400, "invalid-argument", "body"),
    ("no Content-Type", "POST", START, start(""), {}, 415, "unsupported-media-type", "Content-Type"),
    ("text/plain", "POST", START, start(""), {"Content-Type": "text/plain"}, 415, "unsupported-media-type", "Content-Type"),
    ("JSON in Latin-1", "POST", START, start(""), {"Content-Type": "application/json; charset=latin-1"}, 415, "unsupported-media-type", "Content-Type"),
    ("execution timeout 1e308", "POST", START, start(', "execution_timeout": 1e308'), JSON, 400, "invalid-argument", "execution_timeout"),
    ("retry attempts 2^40", "POST", START, start(', "retry_policy": {"maximum_attempts": 1099511627776}'), JSON, 400, "invalid-argument", "retry_policy.maximum_attempts"),
    ("retry interval 1e308", "POST", START, start(', "retry_policy": {"initial_interval": 1e308}'), JSON, 400, "invalid-argument", "retry_policy.initial_interval"),
    ("retry interval 'inf'", "POST", START, start(', "retry_policy": {"initial_interval": "inf"}'), JSON, 400, "invalid-argument", "retry_policy.initial_interval"),
    ("search attribute 2^64", "POST", START, start(', "search_attributes": {"A": 18446744073709551616}'), JSON, 400, "invalid-argument", "search_attributes.A"),
    ("NUL in signal name", "POST", "/workflows/w/signal/s%00", b"{}", JSON, 400, "invalid-argument", "signal_name"),
    ("NUL in a list filter", "GET", "/workflows?workflow_type=a%00", None, {}, 400, "invalid-argument", "workflow_type"),
    ("time out of range", "GET", "/workflows?started_after=9999-12-31T23:59:59-23:59", None, {}, 400, "invalid-argument", "started_after"),
    ("page token holding 2^63", "GET", "/workflows?next_page_token=" + token(["2026-01-01T00:00:00", 2**63]), None, {}, 400, "invalid-argument", "next_page_token"),
    ("page token holding NUL", "GET", "/definitions?next_page_token=" + token(["a\x00"]), None, {}, 400, "invalid-argument", "next_page_token"),
    # -- workers and tasks ---------------------------------------------------------------------
    ("task token event id 2^63", "POST", "/workflow-tasks/complete", json.dumps({"task_token": token(["w", "n", "r", 2**63, 1, 0])}).encode(), JSON, 400, "invalid-argument", "task_token"),
    ("task token attempt 2^31", "POST", "/activity-tasks/complete", json.dumps({"task_token": token(["a", "n", "r", 5, 2**31, 0])}).encode(), JSON, 400, "invalid-argument", "task_token"),
    ("task token with NUL", "POST", "/activity-tasks/heartbeat", json.dumps({"task_token": token(["a", "n\x00", "r", 5, 1, 0])}).encode(), JSON, 400, "invalid-argument", "task_token"),
    ("NUL in polled task queue", "POST", "/task-queues/q%00/activity-tasks/poll", b'{"wait": 0}', JSON, 400, "invalid-argument", "task_queue"),
    ("heartbeat details 300 deep", "POST", "/activity-tasks/heartbeat", f'{{"task_token": "x", "details": {deep(300)}}}'.encode(), JSON, 400, "invalid-argument", "details"),
    ("batch with duplicate keys", "POST", "/activity-tasks/complete-batch", b'{"completions": [{"task_token": "x", "result": {"a": 1, "a": 2}}]}', JSON, 400, "invalid-argument", "completions.0.result.a"),
    # -- definitions ---------------------------------------------------------------------------
    ("YAML flow nested 10,000 deep", "PUT", "/definitions/d-hostile", ("StartAt: " + deep(10_000)).encode(), YAML, 400, "invalid-argument", "definition"),
    ("YAML integer beyond 64 bits", "PUT", "/definitions/d-hostile", b"StartAt: P\nStates:\n  P: {Type: Pass, End: true, Result: 18446744073709551616}\n", YAML, 400, "invalid-argument", "definition"),
    ("YAML .inf", "PUT", "/definitions/d-hostile", b"StartAt: P\nStates:\n  P: {Type: Pass, End: true, Result: .inf}\n", YAML, 400, "invalid-argument", "definition"),
    ("YAML binary", "PUT", "/definitions/d-hostile", b"StartAt: P\nStates:\n  P: {Type: Pass, End: true, Result: !!binary aGk=}\n", YAML, 400, "invalid-argument", "definition"),
    ("YAML set", "PUT", "/definitions/d-hostile", b"StartAt: P\nStates:\n  P: {Type: Pass, End: true, Result: !!set {a, b}}\n", YAML, 400, "invalid-argument", "definition"),
    ("YAML duplicate key", "PUT", "/definitions/d-hostile", b"StartAt: P\nStartAt: Q\nStates:\n  P: {Type: Pass, End: true}\n", YAML, 400, "invalid-argument", "definition"),
    ("YAML recursive alias", "PUT", "/definitions/d-hostile", b"StartAt: P\nStates:\n  P: {Type: Pass, End: true, Result: &r [1, *r]}\n", YAML, 400, "invalid-argument", "definition"),
    ("JSON definition with NaN", "PUT", "/definitions/d-hostile", PASS % b"NaN", JSON, 400, "invalid-argument", "definition.States.P.Result"),
    ("JSON definition nested 500 deep", "PUT", "/definitions/d-hostile", PASS % deep(500).encode(), JSON, 400, "invalid-argument", "definition.States.P.Result"),
    ("definition as text/plain", "PUT", "/definitions/d-hostile", PASS % b"1", {"Content-Type": "text/plain"}, 415, "unsupported-media-type", "Content-Type"),
    ("definition without Content-Type", "PUT", "/definitions/d-hostile", PASS % b"1", {}, 415, "unsupported-media-type", "Content-Type"),
    ("definition version 2^63", "GET", "/definitions/d-hostile/versions/9223372036854775808", None, {}, 400, "invalid-argument", "version"),
    # -- webhooks ------------------------------------------------------------------------------
    ("header value with CR LF", "POST", "/webhooks", b'{"name": "h", "url": "http://127.0.0.1:9/x", "task_queues": ["q"], "headers": {"X-A": "a\\r\\nX-B: b"}}', JSON, 400, "invalid-argument", "headers.X-A"),
    ("NUL in an activity type", "POST", "/webhooks", b'{"name": "h", "url": "http://127.0.0.1:9/x", "activity_types": ["a\\u0000"]}', JSON, 400, "invalid-argument", "activity_types.0"),
    ("NUL in a webhook name", "GET", "/webhooks/h%00", None, {}, 400, "invalid-argument", "name"),
    # -- namespaces, keys, tenants -------------------------------------------------------------
    ("NUL in a description", "PATCH", "", b'{"description": "a\\u0000"}', JSON, 400, "invalid-argument", "description"),
    ("settings: null", "PATCH", "", b'{"settings": null}', JSON, 400, "invalid-argument", "settings"),
    ("NUL in a namespace", "GET", "!/api/v1/namespaces/m%00", None, {}, 400, "invalid-argument", "namespace"),
    ("NUL in a key name", "POST", "!/api/v1/api-keys", b'{"name": "k\\u0000", "role": "reader"}', JSON, 400, "invalid-argument", "name"),
    ("key expiry out of range", "POST", "!/api/v1/api-keys", b'{"name": "k", "role": "reader", "expires_at": "9999-12-31T23:59:59-23:00"}', JSON, 400, "invalid-argument", "expires_at"),
    ("NUL in a key id", "POST", "!/api/v1/api-keys/k%00/revoke", None, {}, 400, "invalid-argument", "key_id"),
]
# fmt: on


async def stored(tenant: Tenant) -> dict[str, Any]:
    """What a tenant can see of its data (without times that reads may touch)."""
    c = tenant.client
    workflows = (await c.get(tenant.ns("/workflows"))).json()["workflows"]
    definitions = (await c.get(tenant.ns("/definitions"))).json()["definitions"]
    webhooks = (await c.get(tenant.ns("/webhooks"))).json()
    namespaces = (await c.get("/api/v1/namespaces")).json()["namespaces"]
    keys = (await c.get("/api/v1/api-keys")).json()["api_keys"]
    return {
        "workflows": sorted((w["workflow_id"], w["status"]) for w in workflows),
        "definitions": sorted((d["name"], d["version"]) for d in definitions),
        "webhooks": sorted(w["name"] for w in webhooks.get("webhooks", [])),
        "namespaces": sorted((n["name"], n["description"], str(n["settings"])) for n in namespaces),
        "keys": sorted((k["name"], k.get("revoked_at")) for k in keys),
    }


@pytest.fixture(scope="module")
async def shared(server) -> Tenant:  # type: ignore[no-untyped-def]
    """One tenant for the whole table: each case checks that it changed nothing."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        made = await new_tenant(http)
    yield made
    await made.client.aclose()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "kind", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_a_hostile_input_is_a_problem_naming_it_and_changes_nothing(
    shared: Tenant,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
    kind: str,
    field: str | None,
):
    before = await stored(shared)
    url = path[1:] if path.startswith("!") else shared.ns(path)

    response = await shared.client.request(method, url, content=body, headers=headers)

    problem = assert_problem(response, status, kind)
    if field is not None:
        assert str(problem.get("field", "")).startswith(field), problem
    assert await stored(shared) == before


async def test_a_syntax_error_names_its_line_column_and_character(tenant: Tenant):
    response = await tenant.client.post(
        tenant.ns(START), content=b'{"workflow_type": "T",\n "task_queue": q}', headers=JSON
    )

    problem = assert_problem(response, 400, "invalid-argument")
    assert (problem["line"], problem["column"], problem["position"]) == (2, 16, 38)
    assert "line 2 column 16" in problem["detail"]


async def test_a_body_past_the_size_limit_is_refused_before_it_is_read(tenant: Tenant, server):
    limit = server.ctx.settings.max_request_bytes
    body = start(', "input": "' + "x" * limit + '"')

    response = await tenant.client.post(tenant.ns(START), content=body, headers=JSON)

    assert assert_problem(response, 413, "payload-too-large")["limit"] == limit
    assert (await tenant.client.get(tenant.ns(START))).status_code == 404


async def test_integers_within_64_bits_and_nul_in_payloads_are_carried_exactly(tenant: Tenant):
    payload = {
        "max": 2**63 - 1,
        "min": -(2**63),
        "text": "a\u0000b\u001b",
        "deep": json.loads(deep(120)),
    }

    started = await tenant.client.post(
        tenant.ns("/workflows/w-exact"),
        json={"workflow_type": "T", "task_queue": "q", "input": payload},
    )
    history = await tenant.client.get(tenant.ns("/workflows/w-exact/history"))

    assert started.status_code == 201, started.text
    assert history.json()["events"][0]["attributes"]["input"] == payload


async def test_the_tenant_name_rule_applies_to_the_system_administrator_too(http):
    response = await http.post(
        "/api/v1/tenants",
        content=b'{"name": "t\\u0000"}',
        headers={**JSON, "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )

    assert_problem(response, 400, "invalid-argument")


async def test_an_intrinsic_asked_for_a_huge_range_fails_without_building_it(tenant: Tenant):
    state = {
        "Type": "Pass",
        "Parameters": {"a.$": "States.ArrayRange(1, 100000000, 1)"},
        "End": True,
    }

    response = await tenant.client.post(
        tenant.ns("/definitions/test-state"), json={"definition": state}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["error"]) == (
        "FAILED",
        "States.IntrinsicFailure",
    )


async def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded(tenant: Tenant):
    document = alias_bomb(8)  # 10**8 strings once expanded

    response = await tenant.client.put(
        tenant.ns("/definitions/bomb"), content=document.encode(), headers=YAML
    )

    problem = assert_problem(response, 400, "invalid-argument")
    assert problem["field"] == "definition" and problem["limit"] == 100_000
    # The work done is bounded by the document as written: its nodes, not their expansion.
    assert problem["nodes"] < 100
    assert (await tenant.client.get(tenant.ns("/definitions/bomb"))).status_code == 404


async def test_yaml_anchors_that_expand_a_little_are_accepted(tenant: Tenant):
    document = (
        "StartAt: P\nStates:\n  P:\n    Type: Pass\n    Next: Q\n    Result: &r {a: 1, b: [1, 2]}\n"
        "  Q:\n    Type: Pass\n    End: true\n    Result: *r\n"
    )

    response = await tenant.client.put(
        tenant.ns("/definitions/anchors"), content=document.encode(), headers=YAML
    )

    assert response.status_code == 201, response.text
    assert response.json()["definition"]["States"]["Q"]["Result"] == {"a": 1, "b": [1, 2]}


async def test_a_timer_of_1e308_seconds_is_refused_and_changes_nothing(tenant: Tenant):
    raw = Raw(tenant, task_queue="q-timer")
    await raw.start("w-timer")
    task = await raw.next_workflow_task()
    timer = {
        "command_type": "START_TIMER",
        "attributes": {"timer_id": "t", "start_to_fire_timeout": 1e308},
    }

    response = await raw.complete(task, timer, expect=400)

    problem = assert_problem(response, 400, "invalid-argument")
    assert problem["field"].endswith("start_to_fire_timeout"), problem
    history = (await tenant.client.get(tenant.ns("/workflows/w-timer/history"))).json()
    assert "TIMER_STARTED" not in [e["event_type"] for e in history["events"]]


async def test_a_problem_names_its_request_path_unless_the_path_is_huge(tenant: Tenant):
    short = await tenant.client.get(tenant.ns("/workflows/nope/result"), params={"wait": 0})
    assert assert_problem(short, 404, "not-found")["instance"] == tenant.ns(
        "/workflows/nope/result"
    )

    huge_id = "x" * 60_000
    huge = await tenant.client.get(tenant.ns(f"/workflows/{huge_id}/result"))
    problem = assert_problem(huge, 400, "invalid-argument")
    assert "instance" not in problem  # not echoed back whole, nor cut into another path
    assert len(huge.content) < 2_000
