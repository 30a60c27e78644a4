"""The definitions API: immutable versions, YAML, lists, deletes, and validation that reports
every problem with a JSON Pointer."""

from __future__ import annotations

import uuid

import pytest

from app.definitions.documents import MAX_SOURCE_BYTES
from tests.definitions_helpers import task
from tests.tenancy_helpers import assert_problem

SIMPLE = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


def name() -> str:
    return f"def-{uuid.uuid4().hex[:8]}"


async def test_put_creates_version_one_then_two_and_an_identical_put_changes_nothing(tenant):
    n = name()
    first = await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=SIMPLE)
    changed = {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}
    second = await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=changed)
    again = await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=changed)

    assert (first.status_code, first.json()["version"]) == (201, 1)
    assert (second.status_code, second.json()["version"]) == (201, 2)
    assert (again.status_code, again.json()["version"]) == (200, 2)
    assert again.json()["digest"] == second.json()["digest"]


async def test_get_returns_the_latest_and_any_version_by_number(tenant):
    n = name()
    await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=SIMPLE)
    await tenant.client.put(tenant.ns(f"/definitions/{n}"), json={**SIMPLE, "Comment": "second"})

    latest = await tenant.client.get(tenant.ns(f"/definitions/{n}"))
    first = await tenant.client.get(tenant.ns(f"/definitions/{n}/versions/1"))
    missing = await tenant.client.get(tenant.ns(f"/definitions/{n}/versions/3"))

    assert latest.json()["version"] == 2
    assert latest.json()["definition"]["Comment"] == "second"
    assert first.json()["definition"] == SIMPLE
    assert missing.status_code == 404


async def test_yaml_is_accepted_with_its_content_type(tenant):
    n = name()
    body = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n"

    r = await tenant.client.put(
        tenant.ns(f"/definitions/{n}"), content=body, headers={"Content-Type": "application/yaml"}
    )

    assert r.status_code == 201, r.text
    assert r.json()["definition"] == SIMPLE


async def test_a_document_past_its_own_size_limit_is_a_413_and_stores_nothing(tenant):
    # The definitions route has a smaller limit (2 MiB) than the server's (8 MiB).
    n = name()
    padding = "#" + "x" * (MAX_SOURCE_BYTES + 1) + "\n"
    body = padding + "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n"

    r = await tenant.client.put(
        tenant.ns(f"/definitions/{n}"), content=body, headers={"Content-Type": "application/yaml"}
    )

    problem = assert_problem(r, 413, "payload-too-large")
    assert (problem["limit"], problem["field"]) == (MAX_SOURCE_BYTES, "body")
    assert (await tenant.client.get(tenant.ns(f"/definitions/{n}"))).status_code == 404


async def test_list_shows_the_latest_version_of_each_name(tenant):
    names = sorted(name() for _ in range(3))
    for n in names:
        await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=SIMPLE)
    await tenant.client.put(tenant.ns(f"/definitions/{names[0]}"), json={**SIMPLE, "Comment": "2"})

    page = await tenant.client.get(tenant.ns("/definitions"), params={"page_size": 2})
    rest = await tenant.client.get(
        tenant.ns("/definitions"), params={"next_page_token": page.json()["next_page_token"]}
    )

    listed = page.json()["definitions"] + rest.json()["definitions"]
    assert [(d["name"], d["version"]) for d in listed] == [
        (names[0], 2),
        (names[1], 1),
        (names[2], 1),
    ]


async def test_definitions_of_another_tenant_are_not_visible(tenant, other_tenant):
    n = name()
    await tenant.client.put(tenant.ns(f"/definitions/{n}"), json=SIMPLE)

    r = await other_tenant.client.get(other_tenant.ns(f"/definitions/{n}"))

    assert r.status_code == 404


async def test_a_body_that_is_not_json_is_refused(tenant):
    r = await tenant.client.put(
        tenant.ns(f"/definitions/{name()}"),
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )

    assert r.status_code == 400


async def test_start_needs_exactly_one_of_workflow_type_and_definition(tenant):
    both = await tenant.client.post(
        tenant.ns("/workflows/x"),
        json={"workflow_type": "T", "task_queue": "q", "definition": {"name": "n"}},
    )
    unknown = await tenant.client.post(
        tenant.ns("/workflows/x"), json={"definition": {"name": name()}}
    )

    assert both.status_code == 400
    assert unknown.status_code == 404


async def put_invalid(tenant, definition) -> list[dict[str, str]]:
    r = await tenant.client.put(tenant.ns(f"/definitions/{name()}"), json=definition)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()["errors"]


INVALID = [
    (
        "unknown state type",
        {"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}},
        ["/States/A/Type"],
    ),
    (
        "missing Next and End",
        {"StartAt": "A", "States": {"A": {"Type": "Pass"}}},
        ["/States/A"],
    ),
    (
        "Next to nowhere",
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}},
        ["/States/A/Next"],
    ),
    (
        "StartAt to nowhere",
        {"StartAt": "Z", "States": {"A": {"Type": "Pass", "End": True}}},
        ["/StartAt"],
    ),
    (
        "unreachable state",
        {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "End": True}, "B": {"Type": "Succeed"}},
        },
        ["/States/B"],
    ),
    (
        "States.ALL not last",
        {
            "StartAt": "A",
            "States": {
                "A": task(
                    "q",
                    Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                    Catch=[{"ErrorEquals": ["States.ALL", "X"], "Next": "B"}],
                    End=True,
                ),
                "B": {"Type": "Succeed"},
            },
        },
        ["/States/A/Retry/0/ErrorEquals", "/States/A/Catch/0/ErrorEquals"],
    ),
    (
        "bad paths",
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Pass",
                    "InputPath": "a.b",
                    "ResultPath": "$.a[*]",
                    "Parameters": {"x.$": "$.[[", "y.$": "States.Nope(1)"},
                    "End": True,
                }
            },
        },
        [
            "/States/A/InputPath",
            "/States/A/ResultPath",
            "/States/A/Parameters/x.$",
            "/States/A/Parameters/y.$",
        ],
    ),
    (
        "bad Choice rules",
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.a", "NumericEquals": "1", "Next": "D"},
                        {"Variable": "$.a", "Next": "D"},
                        {"Not": {"Variable": "$.a", "IsNull": True, "Next": "D"}, "Next": "D"},
                        {"Variable": "$.a", "StringEquals": "x", "Next": "Nowhere"},
                    ],
                    "Default": "Gone",
                },
                "D": {"Type": "Succeed"},
            },
        },
        [
            "/States/C/Choices/0/NumericEquals",
            "/States/C/Choices/1",
            "/States/C/Choices/2/Not/Next",
            "/States/C/Choices/3/Next",
            "/States/C/Default",
        ],
    ),
    (
        "unsupported resource",
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "lambda", "End": True}}},
        ["/States/A/Resource"],
    ),
    (
        "Wait with two kinds of time",
        {
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "x", "End": True}},
        },
        ["/States/W", "/States/W/Timestamp"],
    ),
    (
        "unknown and unsupported fields",
        {
            "StartAt": "A",
            "QueryLanguage": "JSONata",
            "States": {"A": {"Type": "Pass", "Nxt": "B", "End": True, "Assign": {"x": 1}}},
        },
        ["/QueryLanguage", "/States/A/Nxt", "/States/A/Assign"],
    ),
    (
        "nested machines are checked too",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass"}}}],
                    "End": True,
                }
            },
        },
        ["/States/P/Branches/0/States/X"],
    ),
]


@pytest.mark.parametrize(
    "definition,pointers", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_invalid_definitions_are_refused_with_every_problem_pointed_at(
    tenant, definition, pointers
):
    errors = await put_invalid(tenant, definition)

    assert sorted(e["pointer"] for e in errors) == sorted(pointers)
    assert all(e["message"] for e in errors)


async def test_a_state_name_with_a_slash_is_escaped_in_the_pointer(tenant):
    errors = await put_invalid(
        tenant, {"StartAt": "a/b", "States": {"a/b": {"Type": "Pass", "Next": "c~d"}}}
    )

    assert [e["pointer"] for e in errors] == ["/States/a~1b/Next"]
