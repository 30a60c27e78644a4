"""Amazon States Language details where Step Functions' behaviour is specific: backslashes in
bracket paths, rounding in intrinsics, errors without a cause, States.Runtime, and what
validation refuses. Raw HTTP (test-state, definitions, runs)."""

from __future__ import annotations

import uuid

import pytest

from tests.definitions_helpers import run_definition, try_state
from tests.rawhttp import Raw

TASK = {"Type": "Task", "Resource": "perdure:activity:q:act", "End": True}


async def put_invalid(tenant, definition) -> list[dict[str, str]]:
    r = await tenant.client.put(
        tenant.ns(f"/definitions/sm-{uuid.uuid4().hex[:8]}"), json=definition
    )
    assert r.status_code == 400, r.text
    return r.json()["errors"]


# -- paths -------------------------------------------------------------------------------------


async def test_a_backslash_in_a_bracket_path_is_a_character_of_the_key(tenant):
    key = 'a\\"b'  # a, backslash, double quote, b
    state = {"Type": "Pass", "Parameters": {"v.$": f"$['{key}']"}, "End": True}

    answer = await try_state(tenant, state, {key: 1})

    assert answer["status"] == "SUCCEEDED", answer
    assert answer["output"] == {"v": 1}


async def test_a_backslash_is_kept_in_a_result_path_key(tenant):
    state = {"Type": "Pass", "Result": 2, "ResultPath": "$['x\\\\y']", "End": True}

    answer = await try_state(tenant, state, {})

    assert answer["output"] == {"x\\\\y": 2}


# -- intrinsics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression,value",
    [
        ("States.MathAdd(1.4, 1.4)", 2),
        ("States.MathAdd(2.5, 0)", 3),  # a half goes toward positive infinity
        ("States.MathAdd(-2.5, 0)", -2),
        ("States.MathAdd(-1.51, 0)", -2),
        ("States.MathAdd($.n, 1)", 11),
        ("States.Format('\\{\\} {}', 'x')", "{} x"),  # escaped braces are not a placeholder
    ],
)
async def test_intrinsics_round_and_escape_as_step_functions_does(tenant, expression, value):
    state = {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}

    answer = await try_state(tenant, state, {"n": 9.6})

    assert answer["output"] == {"v": value}, answer


async def test_math_random_rounds_its_bounds(tenant):
    state = {"Type": "Pass", "Parameters": {"v.$": "States.MathRandom(0.6, 1.6)"}, "End": True}

    answer = await try_state(tenant, state, {})

    assert answer["output"] == {"v": 1}  # [1, 2): only 1


# -- errors ------------------------------------------------------------------------------------


async def test_a_caught_error_without_a_cause_has_no_cause_member(tenant):
    state = {**TASK, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}
    state.pop("End")
    state["Next"] = "Done"

    answer = await try_state(tenant, state, {}, mock={"error": {"error": "X"}})

    assert answer["status"] == "CAUGHT_ERROR"
    assert answer["output"] == {"Error": "X"}


async def test_a_fail_state_without_error_or_cause_fails_the_run_with_both_null(tenant):
    wf = await run_definition(tenant, {"StartAt": "F", "States": {"F": {"Type": "Fail"}}})

    outcome = await Raw(tenant).result(wf)

    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["type"] is None
    assert outcome["failure"]["message"] is None


async def test_states_runtime_is_never_caught_even_when_named(tenant):
    state = {
        **TASK,
        "InputPath": "$.missing",
        "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "Handle"}],
    }

    answer = await try_state(tenant, state, {}, mock={"result": 1})

    assert (answer["status"], answer["error"]) == ("FAILED", "States.Runtime")


async def test_states_runtime_fails_a_run_whose_catcher_names_it(tenant):
    wf = await run_definition(
        tenant,
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "Bad",
                            "States": {"Bad": {"Type": "Pass", "InputPath": "$.nope", "End": True}},
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Succeed"},
            },
        },
        {},
    )

    outcome = await Raw(tenant).result(wf)

    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["type"] == "States.Runtime"


# -- validation --------------------------------------------------------------------------------


def branch(*names: str) -> dict:
    states = {n: {"Type": "Pass", "Next": m} for n, m in zip(names, names[1:], strict=False)}
    states[names[-1]] = {"Type": "Succeed"}
    return {"StartAt": names[0], "States": states}


INVALID = [
    (
        "Map with Parameters and ItemSelector",
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "Parameters": {"a": 1},
                    "ItemSelector": {"a": 1},
                    "ItemProcessor": branch("I"),
                    "End": True,
                }
            },
        },
        ["/States/M/ItemSelector"],
    ),
    (
        "a name used in a branch and at the top level",
        {
            "StartAt": "P",
            "States": {
                "P": {"Type": "Parallel", "Branches": [branch("A", "P")], "Next": "A"},
                "A": {"Type": "Succeed"},
            },
        },
        ["/States/P/Branches/0/States/A", "/States/P/Branches/0/States/P"],
    ),
    (
        "a name used in two Map processors",
        {
            "StartAt": "M1",
            "States": {
                "M1": {"Type": "Map", "ItemProcessor": branch("X"), "Next": "M2"},
                "M2": {"Type": "Map", "Iterator": branch("X"), "End": True},
            },
        },
        ["/States/M2/Iterator/States/X"],
    ),
    (
        "no state can end the execution",
        {
            "StartAt": "A",
            "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
        },
        ["/States"],
    ),
    (
        "a branch that cannot end",
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "L", "States": {"L": {"Type": "Pass", "Next": "L"}}}],
                    "End": True,
                }
            },
        },
        ["/States/P/Branches/0/States"],
    ),
    (
        "an escape the States Language does not allow",
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Pass",
                    "Parameters": {"v.$": "States.Format('say \\\"hi\\\"')"},
                    "End": True,
                }
            },
        },
        ["/States/A/Parameters/v.$"],
    ),
]


@pytest.mark.parametrize(
    "definition,pointers", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
async def test_validation_refuses_with_a_pointer(tenant, definition, pointers):
    errors = await put_invalid(tenant, definition)

    assert sorted(e["pointer"] for e in errors) == sorted(pointers), errors
