"""Starting workflows (id policies, idempotency, server-made ids, delays) and reading them back
(describe, list, count), plus what a closed or unknown workflow answers. Raw HTTP + JSON only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.engine_helpers import (
    advance,
    assert_problem,
    describe_run,
    of_type,
    raw_on_fresh_queue,
    register_search_attributes,
    run_history,
    run_to_cancellation,
    run_to_completion,
    run_to_failure,
    run_to_termination,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import complete_workflow, schedule_activity, start_timer

# -- id conflict policy (a run with the id is running) -----------------------------------------


async def test_conflict_policy_fail_refuses_a_second_start_with_409_naming_the_running_run(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first = await raw.start(wid)

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "id_conflict_policy": "FAIL"},
    )

    body = assert_problem(r, 409)
    assert body["type"].endswith("already-exists")
    assert body["run_id"] == first["run_id"]
    described = await raw.describe(wid)
    assert described["run_id"] == first["run_id"]
    assert described["status"] == "RUNNING"


async def test_conflict_policy_use_existing_answers_200_with_the_running_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first = await raw.start(wid)

    again = await raw.start(wid, expect=200, id_conflict_policy="USE_EXISTING")

    assert again["run_id"] == first["run_id"]
    assert again["workflow_id"] == wid
    assert again["started"] is False
    count = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"workflow_id_prefix": wid}
    )
    assert count.json()["count"] == 1


async def test_conflict_policy_terminate_existing_terminates_the_old_run_and_starts_a_new_one(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first = await raw.start(wid)

    second = await raw.start(wid, id_conflict_policy="TERMINATE_EXISTING")

    assert second["started"] is True
    assert second["run_id"] != first["run_id"]
    old = await describe_run(tenant, wid, first["run_id"])
    assert old["status"] == "TERMINATED"
    assert types(await run_history(tenant, wid, first["run_id"]))[-1] == (
        "WORKFLOW_EXECUTION_TERMINATED"
    )
    latest = await raw.describe(wid)
    assert latest["run_id"] == second["run_id"]
    assert latest["status"] == "RUNNING"
    task = await raw.next_workflow_task()
    assert task["run_id"] == second["run_id"]


# -- id reuse policy (the latest run with the id is closed) ------------------------------------


async def test_reuse_policy_allow_duplicate_starts_a_new_run_after_completion(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first_run = await run_to_completion(raw, wid)

    again = await raw.start(wid, id_reuse_policy="ALLOW_DUPLICATE")

    assert again["started"] is True
    assert again["run_id"] != first_run
    assert (await raw.describe(wid))["status"] == "RUNNING"


async def test_reuse_policy_allow_duplicate_failed_only_refuses_after_a_completed_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first_run = await run_to_completion(raw, wid)

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}"),
        json={
            "workflow_type": "Flow",
            "task_queue": raw.q,
            "id_reuse_policy": "ALLOW_DUPLICATE_FAILED_ONLY",
        },
    )

    body = assert_problem(r, 409)
    assert body["type"].endswith("already-exists")
    assert body["run_id"] == first_run
    assert (await raw.describe(wid))["run_id"] == first_run


@pytest.mark.parametrize("how", ["failed", "terminated", "canceled"])
async def test_reuse_policy_allow_duplicate_failed_only_allows_after_a_failed_terminated_or_canceled_run(
    tenant, how
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    closer = {
        "failed": run_to_failure,
        "terminated": run_to_termination,
        "canceled": run_to_cancellation,
    }[how]
    first_run = await closer(raw, wid)
    assert (await describe_run(tenant, wid, first_run))["status"] == how.upper()

    again = await raw.start(wid, id_reuse_policy="ALLOW_DUPLICATE_FAILED_ONLY")

    assert again["started"] is True
    assert again["run_id"] != first_run


@pytest.mark.parametrize("how", ["completed", "failed", "terminated"])
async def test_reuse_policy_reject_duplicate_refuses_after_any_closed_run(tenant, how):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    closer = {
        "completed": run_to_completion,
        "failed": run_to_failure,
        "terminated": run_to_termination,
    }[how]
    first_run = await closer(raw, wid)

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "id_reuse_policy": "REJECT_DUPLICATE"},
    )

    body = assert_problem(r, 409)
    assert body["type"].endswith("already-exists")
    assert body["run_id"] == first_run
    count = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"workflow_id_prefix": wid}
    )
    assert count.json()["count"] == 1


# -- idempotent starts and server-made ids -------------------------------------------------------


async def test_start_retried_with_the_same_idempotency_key_returns_the_first_answer(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    key = {"Idempotency-Key": uid("key")}
    first = await raw.start(wid, headers=key, input={"n": 1})

    again = await raw.start(wid, expect=200, headers=key, input={"n": 1})

    assert first["started"] is True
    assert again["started"] is False
    assert again["run_id"] == first["run_id"]
    assert again["workflow_id"] == wid


async def test_server_made_id_start_retried_with_the_same_idempotency_key_returns_the_first_answer(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    key = {"Idempotency-Key": uid("key")}
    body = {"workflow_type": "Flow", "task_queue": raw.q}

    first = await tenant.client.post(tenant.ns("/workflows"), json=body, headers=key)
    again = await tenant.client.post(tenant.ns("/workflows"), json=body, headers=key)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["started"] is False
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["workflow_id"] == first.json()["workflow_id"]
    count = await tenant.client.get(tenant.ns("/workflow-count"))
    assert count.json()["count"] == 1


async def test_post_workflows_makes_a_fresh_workflow_id_for_every_start(tenant):
    raw = raw_on_fresh_queue(tenant)
    body = {"workflow_type": "Flow", "task_queue": raw.q, "input": "x"}

    one = await tenant.client.post(tenant.ns("/workflows"), json=body)
    two = await tenant.client.post(tenant.ns("/workflows"), json=body)

    assert one.status_code == 201, one.text
    assert two.status_code == 201, two.text
    assert one.json()["started"] is True
    assert one.json()["workflow_id"] and two.json()["workflow_id"]
    assert one.json()["workflow_id"] != two.json()["workflow_id"]
    described = await raw.describe(one.json()["workflow_id"])
    assert described["run_id"] == one.json()["run_id"]
    assert described["status"] == "RUNNING"


# -- delayed start -----------------------------------------------------------------------------


async def test_start_delay_holds_the_first_workflow_task_until_the_clock_passes_it(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started = await raw.start(wid, start_delay=600)

    assert await raw.poll_workflow_task(wait=0.3) is None
    events = await raw.history(wid)
    assert types(events) == ["WORKFLOW_EXECUTION_STARTED"]
    assert events[0]["attributes"]["first_workflow_task_backoff"] == 600

    await advance(server, 300)
    assert await raw.poll_workflow_task(wait=0.3) is None

    await advance(server, 301)
    task = await raw.next_workflow_task()
    assert task["run_id"] == started["run_id"]
    assert types(task["history"]["events"]) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]


# -- describe ----------------------------------------------------------------------------------


async def test_describe_shows_status_type_task_queue_memo_and_search_attributes(tenant):
    await register_search_attributes(tenant, CustomerId="Keyword", Priority="Int")
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started = await raw.start(
        wid,
        workflow_type="Billing",
        memo={"owner": "ann", "tags": [1, 2]},
        search_attributes={"CustomerId": "c-42", "Priority": 3},
        task_timeout=7,
    )

    d = await raw.describe(wid)

    assert d["workflow_id"] == wid
    assert d["run_id"] == started["run_id"]
    assert d["first_run_id"] == started["run_id"]
    assert d["status"] == "RUNNING"
    assert d["workflow_type"] == "Billing"
    assert d["task_queue"] == raw.q
    assert d["task_timeout"] == 7
    assert d["memo"] == {"owner": "ann", "tags": [1, 2]}
    assert d["search_attributes"] == {"CustomerId": "c-42", "Priority": 3}
    assert d["close_time"] is None
    assert d["result"] is None
    assert d["pending_workflow_task"]["state"] == "SCHEDULED"
    assert d["pending_activities"] == [] and d["pending_timers"] == []


async def test_describe_shows_a_started_activity_with_its_attempt_and_heartbeat(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, schedule_activity("charge", "Charge", heartbeat_timeout=20))
    activity = await raw.next_activity_task()
    await raw.activity("heartbeat", activity, details={"progress": 50})

    d = await raw.describe(wid)

    [pending] = d["pending_activities"]
    assert pending["activity_id"] == "charge"
    assert pending["activity_type"] == "Charge"
    assert pending["state"] == "STARTED"
    assert pending["attempt"] == 1
    assert pending["heartbeat_details"] == {"progress": 50}
    assert pending["last_heartbeat_time"] is not None
    assert pending["last_started_time"] is not None
    assert pending["last_worker_identity"] == "worker"
    assert pending["last_failure"] is None


async def test_describe_shows_a_retrying_activity_with_attempt_two_and_the_last_failure(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(
        task, schedule_activity("charge", "Charge", retry_policy={"initial_interval": 30})
    )
    activity = await raw.next_activity_task()
    await raw.activity("heartbeat", activity, details={"progress": 10})
    await raw.activity("fail", activity, failure={"message": "card declined", "type": "Declined"})

    d = await raw.describe(wid)

    [pending] = d["pending_activities"]
    assert pending["activity_id"] == "charge"
    assert pending["attempt"] == 2
    assert pending["state"] == "BACKOFF"
    assert pending["last_failure"]["message"] == "card declined"
    assert pending["last_failure"]["type"] == "Declined"
    assert pending["heartbeat_details"] == {"progress": 10}
    assert pending["last_heartbeat_time"] is not None


async def test_describe_shows_pending_timers_with_their_fire_time(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, start_timer("nap", 3600))

    d = await raw.describe(wid)

    [timer] = d["pending_timers"]
    assert timer["timer_id"] == "nap"
    started = of_type(await raw.history(wid), "TIMER_STARTED")[0]
    assert timer["started_event_id"] == started["event_id"]
    fire = datetime.fromisoformat(timer["fire_time"])
    at = datetime.fromisoformat(started["event_time"])
    assert abs((fire - at) - timedelta(seconds=3600)) < timedelta(seconds=1)


async def test_describe_shows_the_result_once_the_run_completed(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    assert (await raw.describe(wid))["result"] is None

    await raw.complete(task, complete_workflow({"total": 42}))

    d = await raw.describe(wid)
    assert d["status"] == "COMPLETED"
    assert d["result"] == {"total": 42}
    assert d["close_time"] is not None
    assert d["pending_workflow_task"] is None


# -- list and count ----------------------------------------------------------------------------


async def _list(tenant, **params):
    r = await tenant.client.get(tenant.ns("/workflows"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _count(tenant, **params) -> int:
    r = await tenant.client.get(tenant.ns("/workflow-count"), params=params)
    assert r.status_code == 200, r.text
    return r.json()["count"]


async def test_list_and_count_filter_by_status(tenant):
    raw = raw_on_fresh_queue(tenant)
    done = await run_to_completion(raw, uid("done"))
    failed = await run_to_failure(raw, uid("fail"))
    running = (await raw.start(uid("run")))["run_id"]

    assert [w["run_id"] for w in (await _list(tenant, status="COMPLETED"))["workflows"]] == [done]
    assert [w["run_id"] for w in (await _list(tenant, status="FAILED"))["workflows"]] == [failed]
    running_ids = [w["run_id"] for w in (await _list(tenant, status="RUNNING"))["workflows"]]
    assert running_ids == [running]
    assert await _count(tenant, status="COMPLETED") == 1
    assert await _count(tenant, status="RUNNING") == 1
    assert await _count(tenant) == 3


async def test_list_and_count_filter_by_workflow_type(tenant):
    raw = raw_on_fresh_queue(tenant)
    await raw.start(uid(), workflow_type="Billing")
    await raw.start(uid(), workflow_type="Billing")
    shipping = await raw.start(uid(), workflow_type="Shipping")

    page = await _list(tenant, workflow_type="Shipping")

    assert [w["run_id"] for w in page["workflows"]] == [shipping["run_id"]]
    assert await _count(tenant, workflow_type="Billing") == 2
    assert await _count(tenant, workflow_type="Nothing") == 0


async def test_list_and_count_filter_by_workflow_id_prefix(tenant):
    raw = raw_on_fresh_queue(tenant)
    for wid in ("order-1", "order-2", "orders-x", "invoice-1"):
        await raw.start(wid)

    page = await _list(tenant, workflow_id_prefix="order-")

    assert sorted(w["workflow_id"] for w in page["workflows"]) == ["order-1", "order-2"]
    assert await _count(tenant, workflow_id_prefix="order") == 3
    assert await _count(tenant, workflow_id_prefix="invoice-") == 1


async def test_list_and_count_filter_by_search_attribute(tenant):
    await register_search_attributes(tenant, Tier="Keyword", Score="Int")
    raw = raw_on_fresh_queue(tenant)
    gold = await raw.start(uid(), search_attributes={"Tier": "gold", "Score": 7})
    await raw.start(uid(), search_attributes={"Tier": "silver", "Score": 7})
    await raw.start(uid())

    page = await _list(tenant, search_attribute="Tier=gold")

    assert [w["run_id"] for w in page["workflows"]] == [gold["run_id"]]
    assert page["workflows"][0]["search_attributes"] == {"Tier": "gold", "Score": 7}
    assert await _count(tenant, search_attribute="Score=7") == 2
    assert await _count(tenant, search_attribute=["Score=7", "Tier=silver"]) == 1
    assert await _count(tenant, search_attribute="Tier=bronze") == 0


async def test_list_and_count_filter_by_start_time_range(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    early = [(await raw.start(uid("early")))["run_id"] for _ in range(2)]
    server.ctx.clock.advance(timedelta(hours=1))
    boundary = server.ctx.clock.now()
    server.ctx.clock.advance(timedelta(seconds=1))
    late = [(await raw.start(uid("late")))["run_id"] for _ in range(3)]

    after = await _list(tenant, started_after=boundary.isoformat())
    before = await _list(tenant, started_before=boundary.isoformat())
    window = await _list(
        tenant,
        started_after=(boundary - timedelta(hours=2)).isoformat(),
        started_before=(boundary - timedelta(minutes=30)).isoformat(),
    )

    assert sorted(w["run_id"] for w in after["workflows"]) == sorted(late)
    assert sorted(w["run_id"] for w in before["workflows"]) == sorted(early)
    assert sorted(w["run_id"] for w in window["workflows"]) == sorted(early)
    assert await _count(tenant, started_after=boundary.isoformat()) == 3
    assert await _count(tenant, started_before=boundary.isoformat()) == 2


async def test_list_is_newest_first(tenant):
    raw = raw_on_fresh_queue(tenant)
    run_ids = [(await raw.start(uid()))["run_id"] for _ in range(4)]

    page = await _list(tenant)

    assert [w["run_id"] for w in page["workflows"]] == list(reversed(run_ids))
    times = [w["start_time"] for w in page["workflows"]]
    assert times == sorted(times, reverse=True)
    assert page["next_page_token"] is None


async def test_list_pagination_returns_every_run_exactly_once_newest_first(tenant):
    raw = raw_on_fresh_queue(tenant)
    run_ids = [(await raw.start(uid()))["run_id"] for _ in range(7)]

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"page_size": 3}
        if token:
            params["next_page_token"] = token
        page = await _list(tenant, **params)
        pages += 1
        assert len(page["workflows"]) <= 3
        seen += [w["run_id"] for w in page["workflows"]]
        token = page["next_page_token"]
        if not token:
            break
        assert pages < 10, "pagination does not end"

    assert seen == list(reversed(run_ids))
    assert pages == 3


@pytest.mark.parametrize("route", ["/workflows", "/workflow-count"])
async def test_a_start_time_filter_without_offset_is_read_as_utc_or_refused_never_a_500(
    tenant, route
):
    raw = raw_on_fresh_queue(tenant)
    await raw.start(uid())

    r = await tenant.client.get(tenant.ns(route), params={"started_after": "2000-01-01T00:00:00"})

    if r.status_code == 400:
        assert_problem(r, 400, "invalid-argument")
    else:
        assert r.status_code == 200, r.text
        found = r.json()["workflows"] if route == "/workflows" else None
        assert (len(found) if found is not None else r.json()["count"]) == 1


async def test_a_tampered_list_page_token_is_a_400_problem(tenant):
    import base64

    forged = base64.urlsafe_b64encode(b'["not-a-time","x"]').decode().rstrip("=")

    r = await tenant.client.get(tenant.ns("/workflows"), params={"next_page_token": forged})

    assert_problem(r, 400, "invalid-argument")


# -- closed and unknown workflows --------------------------------------------------------------


def assert_refused(r, status: int, kind: str) -> None:
    """Status, media type and problem type of a refusal (the body's members are checked
    separately by the well-formedness test below)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(kind), r.text


async def test_terminate_of_a_closed_run_is_refused_with_409_and_changes_nothing(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await run_to_completion(raw, wid, result="ok")
    before = await raw.history(wid)

    r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/terminate"), json={"reason": "late"})

    assert_refused(r, 409, "failed-precondition")
    assert (await raw.describe(wid))["status"] == "COMPLETED"
    assert await raw.history(wid) == before


async def test_signal_to_a_closed_run_is_refused_with_409_and_changes_nothing(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await run_to_completion(raw, wid)
    before = await raw.history(wid)

    r = await signal(tenant, wid, "poke", {"x": 1})

    assert_refused(r, 409, "failed-precondition")
    assert await raw.history(wid) == before


@pytest.mark.parametrize("action", ["terminate", "signal/poke", "cancel"])
async def test_the_409_for_a_closed_run_is_a_well_formed_problem_with_numeric_status(
    tenant, action
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    run_id = await run_to_completion(raw, wid)

    r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/{action}"), json={})

    body = assert_problem(r, 409, "failed-precondition")
    assert body["run_id"] == run_id


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "", None),
        ("GET", "/history", None),
        ("GET", "/result?wait=0", None),
        ("POST", "/signal/poke", {"input": 1}),
        ("POST", "/cancel", {}),
        ("POST", "/terminate", {}),
    ],
)
async def test_an_unknown_workflow_is_a_404_problem(tenant, method, path, body):
    r = await tenant.client.request(
        method, tenant.ns(f"/workflows/{uid('nobody')}{path}"), json=body
    )

    assert_problem(r, 404, "not-found")
