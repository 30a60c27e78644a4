"""A plain-HTTP decider implements `patched` with the documented marker and upsert; the
server infers nothing, and the Python SDK replays what it recorded."""

from __future__ import annotations

from datetime import timedelta

from perdure import workflow
from perdure.exceptions import NondeterminismError
from perdure.replayer import Replayer

from tests.rawhttp import Raw, complete_workflow, start_timer


@workflow.defn(name="Flow")
class Patched:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("p1"):
            await workflow.sleep(timedelta(seconds=60))
            return "new"
        return "old"


@workflow.defn(name="Flow")
class Unpatched:
    @workflow.run
    async def run(self) -> str:
        return "old"


def record_patch(patch_id: str, deprecated: bool = False) -> list[dict]:
    return [
        {
            "command_type": "RECORD_MARKER",
            "attributes": {
                "marker_name": "core_patch",
                "details": {"patch_id": patch_id, "deprecated": deprecated},
            },
        },
        {
            "command_type": "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
            "attributes": {"search_attributes": {"TemporalChangeVersion": [patch_id]}},
        },
    ]


async def test_a_patch_recorded_over_http_is_found_by_change_version_and_replays(tenant):
    raw = Raw(tenant)
    await raw.start("patched-over-http")
    task = await raw.next_workflow_task()
    await raw.complete(task, *record_patch("p1"), start_timer("1", 60))
    listed = await tenant.client.get(
        tenant.ns("/workflows"), params={"query": "TemporalChangeVersion = 'p1'"}
    )
    assert [w["workflow_id"] for w in listed.json()["workflows"]] == ["patched-over-http"]

    history = {"workflow_id": "patched-over-http", "events": await raw.history("patched-over-http")}
    await Replayer(workflows=[Patched]).replay_workflow(history)
    failed = await Replayer(workflows=[Unpatched]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(failed.replay_failure, NondeterminismError)
    assert failed.replay_failure.event_id == 5  # the marker, after the first task's 2, 3, 4


async def test_a_deprecated_marker_over_http_replays_with_the_patch_removed(tenant):
    raw = Raw(tenant)
    await raw.start("deprecated-over-http")
    task = await raw.next_workflow_task()
    await raw.complete(task, *record_patch("p1", deprecated=True), complete_workflow("old"))
    history = {
        "workflow_id": "deprecated-over-http",
        "events": await raw.history("deprecated-over-http"),
    }
    await Replayer(workflows=[Unpatched]).replay_workflow(history)


async def test_a_change_version_that_is_not_a_list_of_keywords_is_refused(tenant):
    raw = Raw(tenant)
    await raw.start("bad-change-version")
    task = await raw.next_workflow_task()
    bad = {
        "command_type": "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "attributes": {"search_attributes": {"TemporalChangeVersion": 7}},
    }
    r = await raw.complete(task, bad, expect=400)
    assert r.headers["content-type"].startswith("application/problem+json")
