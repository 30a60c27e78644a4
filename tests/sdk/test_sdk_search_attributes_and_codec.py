"""Two of Temporal's SDK behaviours, through a real server: untyped search attributes read
back as temporalio's `SearchAttributes` (every value a list, Datetime values as datetimes)
wherever they are exposed, and a `PayloadCodec` applied to memo values and failure details
as well as to inputs and results (Temporal's client and worker)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from perdure import activity, workflow
from perdure.client import Client
from perdure.converter import DataConverter
from perdure.exceptions import ActivityError, ApplicationError, WorkflowFailureError
from perdure.worker import Worker

from tests.sdk.test_sdk_converters import Rot13Codec
from tests.sdk_helpers import new_id, sdk_client

QUEUE = "sa-and-codec"
TYPES = {"Color": "Keyword", "Tags": "KeywordList", "Due": "Datetime", "Size": "Int"}
DUE = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(server, search_attributes=TYPES) as connected:
        yield connected


@workflow.defn
class Attributes:
    @workflow.run
    async def run(self) -> list[Any]:
        seen = workflow.info().search_attributes
        # Types as the workflow sees them, then the values (the result travels as JSON).
        return [{k: [type(v).__name__ for v in vs] for k, vs in seen.items()}, seen]


async def test_search_attributes_read_back_as_temporals_untyped_lists(client: Client) -> None:
    workflow_id = new_id("attributes")
    given = {"Color": "red", "Tags": ["x", "y"], "Due": [DUE], "Size": 3}
    expected = {"Color": ["red"], "Tags": ["x", "y"], "Due": [DUE], "Size": [3]}
    async with Worker(client, task_queue=QUEUE, workflows=[Attributes]):
        handle = await client.start_workflow(
            Attributes.run, id=workflow_id, task_queue=QUEUE, search_attributes=given
        )
        kinds, values = await handle.result()
    # workflow.info(): lists, the Datetime attribute as datetimes.
    assert kinds == {"Color": ["str"], "Tags": ["str", "str"], "Due": ["datetime"], "Size": ["int"]}
    assert values["Color"] == ["red"] and values["Size"] == [3]
    # describe() and list_workflows(): the same form.
    described = await handle.describe()
    assert described.search_attributes == expected
    listed = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert [r.search_attributes for r in listed] == [expected]
    # The server's JSON is unchanged: the values as they were given.
    raw = described.raw_description["search_attributes"]
    assert raw["Color"] == "red" and raw["Size"] == 3 and raw["Tags"] == ["x", "y"]
    assert listed[0]["search_attributes"] == raw


@activity.defn
async def refuse(reason: str) -> None:
    raise ApplicationError("refused", {"secret": reason}, non_retryable=True)


@workflow.defn
class MemoEcho:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        return workflow.memo()


@workflow.defn
class Guarded:
    @workflow.run
    async def run(self, round: int) -> None:
        if round == 0:
            workflow.continue_as_new(args=[1], memo={"owner": "bob-hidden"})
        child_memo = await workflow.execute_child_workflow(
            MemoEcho.run, id=f"{workflow.info().workflow_id}-child", memo={"k": "kid-hidden"}
        )
        try:
            await workflow.execute_activity(
                refuse, "act-hidden", start_to_close_timeout=timedelta(seconds=5)
            )
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            seen = err.cause.details
        raise ApplicationError("failed", workflow.memo(), child_memo, seen, non_retryable=True)


async def test_a_codec_encodes_memo_and_failure_details(server: Any, client: Client) -> None:
    coded = await Client.connect(
        server.base_url,
        api_key=client.http._pools[0].headers["Authorization"].removeprefix("Bearer "),
        namespace=client.namespace,
        data_converter=DataConverter(payload_codec=Rot13Codec()),
    )
    try:
        workflow_id = new_id("guarded")
        async with Worker(
            coded, task_queue=QUEUE, workflows=[Guarded, MemoEcho], activities=[refuse]
        ):
            handle = await coded.start_workflow(
                Guarded.run, 0, id=workflow_id, task_queue=QUEUE, memo={"owner": "ann-hidden"}
            )
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
        # The caller reads the details decoded: the continued run's memo, the child's memo
        # (as the child saw it) and the activity's failure details (as the workflow saw them).
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.details == [
            {"owner": "bob-hidden"},
            {"k": "kid-hidden"},
            [{"secret": "act-hidden"}],
        ]

        first = coded.get_workflow_handle(workflow_id, run_id=handle.run_id)
        assert await (await first.describe()).memo() == {"owner": "ann-hidden"}
        last = await coded.get_workflow_handle(workflow_id).describe()
        assert await last.memo() == {"owner": "bob-hidden"}
        assert isinstance(last.failure, ApplicationError)
        assert last.failure.details == cause.details
        child = await coded.get_workflow_handle(f"{workflow_id}-child").describe()
        assert await child.memo() == {"k": "kid-hidden"}
        listed = [r async for r in coded.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert sorted(r.memo()["owner"] for r in listed) == ["ann-hidden", "bob-hidden"]

        # What the server stores and shows holds none of it in clear: every memo value and
        # every failure's details is the codec's envelope.
        plain = client.get_workflow_handle(workflow_id)
        stored = [
            *(await client.get_workflow_handle(workflow_id, run_id=handle.run_id).fetch_history())[
                "events"
            ],
            *(await plain.fetch_history())["events"],
            *(await client.get_workflow_handle(f"{workflow_id}-child").fetch_history())["events"],
        ]
        assert "hidden" not in str(stored)
        seen_plain = await plain.describe()
        memo = await seen_plain.memo()
        assert set(memo) == {"owner"} and set(memo["owner"]) == {"metadata", "data"}
        assert base64.b64decode(memo["owner"]["metadata"]["encoding"]) == b"binary/rot"
        details = seen_plain.raw_description["failure"]["details"]
        assert set(details) == {"metadata", "data"}
        assert "hidden" not in str(seen_plain.raw_description)
    finally:
        await coded.close()
