"""Input and output processing through test-state, with the examples (input → output) of the
AWS Step Functions documentation, and the intrinsic functions."""

from __future__ import annotations

import pytest

from tests.definitions_helpers import try_state

TASK = {"Type": "Task", "Resource": "perdure:activity:q:act", "End": True}


async def test_input_path_selects_part_of_the_input(tenant):
    answer = await try_state(
        tenant,
        {**TASK, "InputPath": "$.dataset2"},
        {
            "comment": "Example for InputPath.",
            "dataset1": {"val1": 1, "val2": 2, "val3": 3},
            "dataset2": {"val1": "a", "val2": "b", "val3": "c"},
        },
        mock={"result": None},
    )

    assert answer["inspection_data"]["afterInputPath"] == {"val1": "a", "val2": "b", "val3": "c"}


async def test_input_path_may_select_several_values(tenant):
    answer = await try_state(
        tenant, {**TASK, "InputPath": "$.a[0:2]"}, {"a": [1, 2, 3, 4]}, mock={"result": None}
    )

    assert answer["inspection_data"]["afterInputPath"] == [1, 2]


async def test_parameters_build_the_task_input_from_paths_and_static_values(tenant):
    answer = await try_state(
        tenant,
        {
            **TASK,
            "Parameters": {
                "comment": "Selecting what I care about.",
                "MyDetails": {
                    "size.$": "$.product.details.size",
                    "exists.$": "$.product.availability",
                    "StaticValue": "foo",
                },
            },
        },
        {
            "comment": "Example for Parameters.",
            "product": {
                "details": {"color": "blue", "size": "small", "material": "cotton"},
                "availability": "in stock",
                "sku": "2317",
                "cost": "$23",
            },
        },
        mock={"result": None},
    )

    assert answer["inspection_data"]["afterParameters"] == {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
    }


async def test_parameters_read_the_context_object(tenant):
    answer = await try_state(
        tenant,
        {**TASK, "Parameters": {"state.$": "$$.State.Name", "token.$": "$$.Task.Token"}},
        {},
        state_name="Charge",
        mock={"result": None},
    )

    assert answer["inspection_data"]["afterParameters"]["state"] == "Charge"
    assert answer["inspection_data"]["afterParameters"]["token"]


EMR_RESULT = {
    "resourceType": "elasticmapreduce",
    "resource": "createCluster.sync",
    "output": {
        "SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112"}, "HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
        "ClusterId": "AKIAIOSFODNN7EXAMPLE",
    },
}


async def test_result_selector_reshapes_the_result_before_result_path(tenant):
    answer = await try_state(
        tenant,
        {
            **TASK,
            "ResultSelector": {
                "ClusterId.$": "$.output.ClusterId",
                "ResourceType.$": "$.resourceType",
            },
            "ResultPath": "$.EMROutput",
        },
        {"Name": "MyCluster"},
        mock={"result": EMR_RESULT},
    )

    assert answer["inspection_data"]["afterResultSelector"] == {
        "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        "ResourceType": "elasticmapreduce",
    }
    assert answer["output"] == {
        "Name": "MyCluster",
        "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"},
    }


HELLO_INPUT = {
    "comment": "This is a test of the input and output of a Task state.",
    "details": "Default example",
    "who": "AWS Step Functions",
}
HELLO = "Hello, AWS Step Functions!"


@pytest.mark.parametrize(
    "result_path,output",
    [
        ("$", HELLO),
        (None, HELLO_INPUT),
        ("$.taskresult", {**HELLO_INPUT, "taskresult": HELLO}),
        ("$.strings.lambdaresult", {**HELLO_INPUT, "strings": {"lambdaresult": HELLO}}),
    ],
    ids=["replace", "discard", "add", "nested"],
)
async def test_result_path_places_the_result_into_the_input(tenant, result_path, output):
    answer = await try_state(
        tenant, {**TASK, "ResultPath": result_path}, HELLO_INPUT, mock={"result": HELLO}
    )

    assert answer["output"] == output


async def test_input_result_and_output_paths_together(tenant):
    answer = await try_state(
        tenant,
        {
            **TASK,
            "InputPath": "$.lambda",
            "ResultPath": "$.data.lambdaresult",
            "OutputPath": "$.data",
        },
        {
            "comment": "An input comment.",
            "data": {"val1": 23, "val2": 17},
            "extra": "foo",
            "lambda": {"who": "AWS Step Functions"},
        },
        mock={"result": HELLO},
    )

    assert answer["inspection_data"]["afterInputPath"] == {"who": "AWS Step Functions"}
    assert answer["output"] == {"val1": 23, "val2": 17, "lambdaresult": HELLO}


async def test_output_path_null_outputs_an_empty_object(tenant):
    answer = await try_state(tenant, {**TASK, "OutputPath": None}, {"a": 1}, mock={"result": 2})

    assert answer["output"] == {}


async def test_pass_result_goes_to_result_path(tenant):
    answer = await try_state(
        tenant,
        {
            "Type": "Pass",
            "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
            "ResultPath": "$.coords",
            "Next": "End",
        },
        {"georefOf": "Home"},
    )

    assert answer["output"] == {
        "georefOf": "Home",
        "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
    }
    assert answer["next_state"] == "End"


async def test_a_caught_error_goes_to_the_catchers_result_path_and_next(tenant):
    answer = await try_state(
        tenant,
        {
            **TASK,
            "Catch": [
                {"ErrorEquals": ["Other"], "Next": "No"},
                {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Handle"},
            ],
        },
        {"foo": "bar"},
        mock={"error": {"error": "Oops", "cause": "it broke"}},
    )

    assert answer["status"] == "CAUGHT_ERROR"
    assert answer["next_state"] == "Handle"
    assert answer["output"] == {"foo": "bar", "error": {"Error": "Oops", "Cause": "it broke"}}


async def test_a_retriable_error_reports_the_delay(tenant):
    answer = await try_state(
        tenant,
        {**TASK, "Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 3, "MaxDelaySeconds": 2}]},
        {},
        mock={"error": {"error": "Oops"}},
    )

    assert answer["status"] == "RETRIABLE"
    assert answer["retry_delay_seconds"] == 2


async def test_fail_state_reports_error_and_cause(tenant):
    answer = await try_state(tenant, {"Type": "Fail", "Error": "E", "Cause": "C"}, {})

    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "E", "C")


async def test_choice_reports_the_next_state(tenant):
    answer = await try_state(
        tenant,
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.when", "TimestampLessThan": "2026-01-01T00:00:00Z", "Next": "Old"},
                {"Variable": "$.missing", "IsPresent": False, "Next": "New"},
            ],
        },
        {"when": "2026-06-01T00:00:00Z"},
    )

    assert answer["next_state"] == "New"


async def test_a_path_that_selects_nothing_is_a_runtime_error(tenant):
    answer = await try_state(tenant, {**TASK, "InputPath": "$.nope"}, {}, mock={"result": 1})

    assert (answer["status"], answer["error"]) == ("FAILED", "States.Runtime")


async def test_a_task_needs_a_mock(tenant):
    r = await tenant.client.post(
        tenant.ns("/definitions/test-state"), json={"definition": TASK, "input": {}}
    )

    assert r.status_code == 400


INTRINSICS = [
    ("States.Format('Hello, {}. You are {}', $.name, $.age)", "Hello, Ann. You are 30"),
    ("States.StringToJson($.json)", {"a": 1}),
    ("States.JsonToString($.obj)", '{"b":[1,2]}'),
    ("States.Array($.name, 1, true, null)", ["Ann", 1, True, None]),
    ("States.ArrayPartition($.nums, 2)", [[1, 2], [3, 4], [5]]),
    ("States.ArrayContains($.nums, 3)", True),
    ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
    ("States.ArrayGetItem($.nums, 1)", 2),
    ("States.ArrayLength($.nums)", 5),
    ("States.ArrayUnique($.dups)", [1, 2, 3]),
    ("States.Base64Encode('Data to encode')", "RGF0YSB0byBlbmNvZGU="),
    ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
    (
        "States.Hash('input data', 'SHA-1')",
        "aaff4a450a104cd177d28d18d74485e8cae074b7",
    ),
    (
        "States.JsonMerge($.left, $.right, false)",
        {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3},
    ),
    ("States.MathAdd($.age, -1)", 29),
    ("States.StringSplit('1,2,3 4', ', ')", ["1", "2", "3", "4"]),
    ("States.Format('{} \\{x\\}', States.ArrayLength($.nums))", "5 {x}"),
]
INTRINSIC_INPUT = {
    "name": "Ann",
    "age": 30,
    "json": '{"a": 1}',
    "obj": {"b": [1, 2]},
    "nums": [1, 2, 3, 4, 5],
    "dups": [1, 2, 2, 3, 1],
    "left": {"a": {"a1": 1, "a2": 2}, "b": 2},
    "right": {"a": {"a3": 1, "a4": 2}, "c": 3},
}


@pytest.mark.parametrize("expression,value", INTRINSICS, ids=[e for e, _ in INTRINSICS])
async def test_intrinsic_functions(tenant, expression, value):
    answer = await try_state(
        tenant,
        {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True},
        INTRINSIC_INPUT,
    )

    assert answer["output"] == {"v": value}


async def test_random_values_are_well_formed(tenant):
    answer = await try_state(
        tenant,
        {
            "Type": "Pass",
            "Parameters": {"id.$": "States.UUID()", "n.$": "States.MathRandom(1, 10)"},
            "End": True,
        },
        {},
    )

    assert len(answer["output"]["id"]) == 36
    assert 1 <= answer["output"]["n"] < 10


async def test_fail_state_error_and_cause_may_come_from_intrinsics(tenant):
    answer = await try_state(
        tenant,
        {
            "Type": "Fail",
            "ErrorPath": "$.code",
            "CausePath": "States.Format('order {} was refused', $.order)",
        },
        {"code": "Refused", "order": 42},
    )

    assert (answer["error"], answer["cause"]) == ("Refused", "order 42 was refused")


async def test_a_parameters_path_that_selects_nothing_is_a_catchable_parameter_path_failure(
    tenant,
):
    answer = await try_state(
        tenant,
        {
            **TASK,
            "Parameters": {"x.$": "$.missing"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}],
        },
        {},
        mock={"result": 1},
    )

    assert (answer["status"], answer["error"]) == ("CAUGHT_ERROR", "States.ParameterPathFailure")


async def test_a_result_path_that_does_not_fit_the_input_is_a_result_path_match_failure(tenant):
    answer = await try_state(
        tenant, {**TASK, "ResultPath": "$.a.b"}, {"a": "text"}, mock={"result": 1}
    )

    assert (answer["status"], answer["error"]) == ("FAILED", "States.ResultPathMatchFailure")
