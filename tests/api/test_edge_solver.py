"""The API edge's own solver (app/api/solver.py) answers every request as FastAPI's handler
would: each request below is sent once through a route's plan and once through FastAPI's
handler (forced by setting `app.dependency_overrides`), and the two answers must be equal:
status, problem body, and the headers a caller acts on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from app.api.edge import EdgeRoute
from app.api.solver import EdgeSolverUnsupported, plan_route
from tests.conftest import ADMIN_TOKEN, keyed_client
from tests.tenancy_helpers import create_key

NS = "/api/v1/namespaces/main"
LONG = "n" * 201  # past the namespace's max_length (200)
QUEUE_TOO_LONG = "q" * 1001
START = {"workflow_type": "Diff", "task_queue": "diff-q", "input": None}
COMPLETE_TASK = {"task_token": "not-a-token", "commands": [], "identity": "diff"}
COMPLETE_ACTIVITY = {"task_token": "not-a-token", "result": 1, "identity": "diff"}


def _unused_dependency() -> None:  # pragma: no cover - never called: only makes overrides non-empty
    raise AssertionError


@contextmanager
def fastapi_handler(app: Any) -> Iterator[None]:
    """Requests go through FastAPI's own handler meanwhile (see EdgeRoute)."""
    app.dependency_overrides[_unused_dependency] = _unused_dependency
    try:
        yield
    finally:
        app.dependency_overrides.pop(_unused_dependency, None)


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str | None]]:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.content
    if isinstance(body, dict):
        body.pop("run_id", None)  # made anew by each successful start
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "www-authenticate", "retry-after", "allow")
    }
    return response.status_code, body, headers


# (name, method, path, keyword arguments of httpx's request; the key used: admin, reader,
# none, or a given Authorization header)
CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("no key", "POST", f"{NS}/workflows/w1", {"json": START}, "none"),
    ("basic scheme", "POST", f"{NS}/workflows/w1", {"json": START}, "Basic abc"),
    ("bearer without token", "POST", f"{NS}/workflows/w1", {"json": START}, "Bearer"),
    ("unknown key", "POST", f"{NS}/workflows/w1", {"json": START}, "Bearer pdk_unknown"),
    ("admin token", "POST", f"{NS}/workflows/w1", {"json": START}, f"Bearer {ADMIN_TOKEN}"),
    ("no key, bad body", "POST", f"{NS}/workflows/w1", {"json": [1]}, "none"),
    (
        "namespace too long",
        "POST",
        f"/api/v1/namespaces/{LONG}/workflows/w1",
        {"json": START},
        "admin",
    ),
    (
        "namespace too long and bad body",
        "POST",
        f"/api/v1/namespaces/{LONG}/workflows/w1",
        {"json": {"task_queue": 5}},
        "admin",
    ),
    (
        "namespace too long, no key",
        "POST",
        f"/api/v1/namespaces/{LONG}/workflows/w1",
        {"json": START},
        "none",
    ),
    (
        "bad namespace characters",
        "POST",
        "/api/v1/namespaces/a%20b/workflows/w1",
        {"json": START},
        "admin",
    ),
    (
        "unknown namespace",
        "POST",
        "/api/v1/namespaces/nowhere/workflows/w1",
        {"json": START},
        "admin",
    ),
    ("reader may not start", "POST", f"{NS}/workflows/w1", {"json": START}, "reader"),
    (
        "reader may not work",
        "POST",
        f"{NS}/workflow-tasks/complete",
        {"json": COMPLETE_TASK},
        "reader",
    ),
    ("reader, bad body", "POST", f"{NS}/workflow-tasks/complete", {"json": {}}, "reader"),
    ("body not an object", "POST", f"{NS}/workflows/w1", {"json": [1, 2]}, "admin"),
    ("body missing fields", "POST", f"{NS}/workflow-tasks/complete", {"json": {}}, "admin"),
    (
        "body of wrong types",
        "POST",
        f"{NS}/workflow-tasks/complete",
        {"json": {"task_token": 1, "commands": "x"}},
        "admin",
    ),
    (
        "extra body member",
        "POST",
        f"{NS}/activity-tasks/complete",
        {"json": {**COMPLETE_ACTIVITY, "bogus": 1}},
        "admin",
    ),
    (
        "empty body",
        "POST",
        f"{NS}/workflows/w1",
        {"headers": {"content-type": "application/json"}},
        "admin",
    ),
    ("no body at all", "POST", f"{NS}/activity-tasks/complete", {}, "admin"),
    (
        "not JSON",
        "POST",
        f"{NS}/workflows/w1",
        {"content": b"{nope", "headers": {"content-type": "application/json"}},
        "admin",
    ),
    (
        "not declared JSON",
        "POST",
        f"{NS}/workflows/w1",
        {"content": b"{}", "headers": {"content-type": "text/plain"}},
        "admin",
    ),
    (
        "a +json type FastAPI reads as bytes",
        "POST",
        f"{NS}/workflows/w1",
        {"content": b"{}", "headers": {"content-type": "application/vnd.a/b+json"}},
        "admin",
    ),
    (
        "a +json type",
        "POST",
        f"{NS}/workflow-tasks/complete",
        {
            "content": b'{"task_token": "x", "commands": []}',
            "headers": {"content-type": "application/problem+json; charset=utf-8"},
        },
        "admin",
    ),
    (
        "Idempotency-Key too long",
        "POST",
        f"{NS}/workflows/w1",
        {"json": START, "headers": {"Idempotency-Key": "k" * 203}},
        "admin",
    ),
    (
        "Idempotency-Key not printable",
        "POST",
        f"{NS}/workflows/w1",
        {"json": START, "headers": {"Idempotency-Key": "a\tb"}},
        "admin",
    ),
    ("workflow id too long", "POST", f"{NS}/workflows/{'w' * 1001}", {"json": START}, "admin"),
    (
        "task queue too long",
        "POST",
        f"{NS}/task-queues/{QUEUE_TOO_LONG}/activity-tasks/poll",
        {"json": {"wait": 0}},
        "admin",
    ),
    (
        "unknown task token",
        "POST",
        f"{NS}/workflow-tasks/complete",
        {"json": COMPLETE_TASK},
        "admin",
    ),
    (
        "unknown activity token",
        "POST",
        f"{NS}/activity-tasks/complete",
        {"json": COMPLETE_ACTIVITY},
        "admin",
    ),
    (
        "empty poll",
        "POST",
        f"{NS}/task-queues/diff-empty/activity-tasks/poll",
        {"json": {"wait": 0}},
        "admin",
    ),
    (
        "empty poll, negative wait",
        "POST",
        f"{NS}/task-queues/diff-empty/workflow-tasks/poll",
        {"json": {"wait": -1}},
        "admin",
    ),
    (
        "result of an unknown workflow",
        "GET",
        f"{NS}/workflows/nobody/result",
        {"params": {"wait": "0"}},
        "admin",
    ),
    (
        "result, wait not a number",
        "GET",
        f"{NS}/workflows/nobody/result",
        {"params": {"wait": "soon"}},
        "admin",
    ),
    (
        "result, wait too long, no key",
        "GET",
        f"{NS}/workflows/nobody/result",
        {"params": {"wait": "99999"}},
        "none",
    ),
    (
        "result, run id too long",
        "GET",
        f"{NS}/workflows/nobody/result",
        {"params": {"run_id": "r" * 65, "wait": "x"}},
        "admin",
    ),
    ("result, no parameters", "GET", f"{NS}/workflows/nobody/result", {}, "admin"),
    (
        "result, empty run id, repeated wait",
        "GET",
        f"{NS}/workflows/nobody/result?run_id=&wait=0&wait=x",
        {},
        "admin",
    ),
    (
        "Idempotency-Key given, lower case",
        "POST",
        f"{NS}/workflows/w1",
        {"json": [1], "headers": {"idempotency-key": "k1"}},
        "admin",
    ),
    (
        "encoded slash in a workflow id",
        "GET",
        f"{NS}/workflows/a%2Fb/result",
        {"params": {"wait": "0"}},
        "admin",
    ),
    (
        "method not allowed",
        "PUT",
        f"{NS}/workflow-tasks/complete",
        {"json": COMPLETE_TASK},
        "admin",
    ),
    ("describe an unknown workflow", "GET", f"{NS}/workflows/nobody", {}, "reader"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_the_plan_answers_as_fastapi_does(server, tenant, case):
    name, method, path, kwargs, key = case
    reader = (await create_key(tenant.client, "reader"))["key"]
    keys = {"admin": tenant.admin_key, "reader": reader}
    headers = dict(kwargs.pop("headers", {}))
    if key in keys:
        headers["Authorization"] = f"Bearer {keys[key]}"
    elif key != "none":
        headers["Authorization"] = key
    async with keyed_client(tenant.client, "unused") as client:
        client.headers.pop("Authorization")

        async def send() -> httpx.Response:
            return await client.request(method, path, headers=headers, **kwargs)

        planned = answer(await send())
        with fastapi_handler(server.app):
            solved_by_fastapi = answer(await send())

    assert planned == solved_by_fastapi
    assert planned[0] >= 200


async def test_a_successful_start_is_answered_alike(server, tenant):
    body = {**START, "request_eager_execution": True, "identity": "diff"}
    planned = answer(await tenant.client.post(f"{NS}/workflows/diff-a", json=body))
    with fastapi_handler(server.app):
        solved_by_fastapi = answer(await tenant.client.post(f"{NS}/workflows/diff-b", json=body))

    def without_ids(result: tuple[int, Any, Any]) -> tuple[int, Any, Any]:
        status, answer_body, headers = result
        task = answer_body.pop("eager_workflow_task")
        answer_body.pop("workflow_id")
        return status, (answer_body, sorted(task)), headers

    assert planned[0] == 201
    assert without_ids(planned) == without_ids(solved_by_fastapi)


def test_the_hot_routes_have_plans(server):
    hot = {
        ("POST", "/api/v1/namespaces/{namespace}/workflows/{workflow_id}"),
        ("POST", "/api/v1/namespaces/{namespace}/workflow-tasks/complete"),
        ("POST", "/api/v1/namespaces/{namespace}/activity-tasks/complete"),
        ("POST", "/api/v1/namespaces/{namespace}/task-queues/{task_queue}/workflow-tasks/poll"),
        ("POST", "/api/v1/namespaces/{namespace}/task-queues/{task_queue}/activity-tasks/poll"),
        ("GET", "/api/v1/namespaces/{namespace}/workflows/{workflow_id}/result"),
    }
    from app.api.routers import tasks, workflows

    planned = {
        (method, route.path)
        for module in (tasks, workflows)
        for route in module.router.routes
        if isinstance(route, EdgeRoute) and plan_route(route) is not None
        for method in route.methods
    }
    assert hot <= planned


@pytest.mark.parametrize(
    "internal",
    [
        "fastapi.dependencies.utils._get_param_aliases",
        "fastapi.dependencies.utils._get_param_model",
        "fastapi.routing._effective_route_context_var",
    ],
)
def test_the_server_refuses_to_start_when_a_fastapi_internal_is_gone(internal):
    # A FastAPI without a private name the solver reads (simulated by deleting it before the
    # app is imported) must stop the server at start-up, naming the name, not fall back.
    module, name = internal.rsplit(".", 1)
    script = f"import {module}\ndel {module}.{name}\nimport app.server\nprint('started')\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "EdgeSolverUnsupported" in done.stderr
    assert f"has no {internal}" in done.stderr


def test_planning_a_route_fastapi_built_otherwise_is_refused():
    async def endpoint() -> Response:  # pragma: no cover - never called
        return Response()

    route = EdgeRoute("/x", endpoint)
    del route._embed_body_fields  # what a FastAPI that no longer keeps it would build

    with pytest.raises(EdgeSolverUnsupported, match="_embed_body_fields"):
        plan_route(route)
