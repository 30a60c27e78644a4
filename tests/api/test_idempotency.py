"""Request ids (Idempotency-Key, Temporal's request_id): a request sent again gets the first
answer and changes nothing; the id is bound to its request (422 for another); ids outlive a
day and hold across replicas. Raw HTTP + JSON only."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, keyed_client, serve_app
from tests.engine_helpers import (
    assert_problem,
    command,
    of_type,
    raw_on_fresh_queue,
    signal,
    uid,
)
from tests.rawhttp import Raw

DAY = timedelta(hours=24)


def key() -> dict[str, str]:
    return {"Idempotency-Key": uid("key")}


async def history(raw: Raw, workflow_id: str) -> list[dict]:
    r = await raw.c.get(raw.t.ns(f"/workflows/{workflow_id}/history"))
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def count(raw: Raw) -> int:
    return (await raw.c.get(raw.t.ns("/workflow-count"))).json()["count"]


# -- starts ------------------------------------------------------------------------------------


async def test_a_start_key_sent_with_another_workflow_id_is_refused_and_starts_nothing(tenant):
    raw = raw_on_fresh_queue(tenant)
    same = key()
    await raw.start(uid(), headers=same)
    other = uid()

    r = await raw.c.post(
        raw.t.ns(f"/workflows/{other}"),
        json={"workflow_type": "Flow", "task_queue": raw.q},
        headers=same,
    )

    body = assert_problem(r, 422, "idempotency-key-reused")
    assert body["idempotency_key"] == same["Idempotency-Key"]
    assert (await raw.c.get(raw.t.ns(f"/workflows/{other}"))).status_code == 404
    assert await count(raw) == 1


async def test_a_start_key_sent_with_another_body_is_refused_and_changes_nothing(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    first = await raw.start(wid, headers=same, input={"n": 1})

    r = await raw.c.post(
        raw.t.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "input": {"n": 2}},
        headers=same,
    )

    assert_problem(r, 422, "idempotency-key-reused")
    described = (await raw.c.get(raw.t.ns(f"/workflows/{wid}"))).json()
    assert described["run_id"] == first["run_id"]
    started = (await history(raw, wid))[0]
    assert started["attributes"]["input"] == {"n": 1}


async def test_temporals_request_id_field_and_a_quoted_header_name_the_same_request(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, request_id = uid(), uid("req")
    first = await raw.start(wid, request_id=request_id)

    again = await raw.start(
        wid, expect=200, request_id=request_id, headers={"Idempotency-Key": f'"{request_id}"'}
    )

    assert again["run_id"] == first["run_id"] and again["started"] is False
    assert await count(raw) == 1


async def test_a_header_and_a_request_id_that_differ_are_refused(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()

    r = await raw.c.post(
        raw.t.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "request_id": "one"},
        headers={"Idempotency-Key": "two"},
    )

    assert assert_problem(r, 400, "invalid-argument")["field"] == "request_id"
    assert await count(raw) == 0


async def test_a_start_sent_twice_at_once_starts_one_run_and_answers_both_with_it(tenant, http):
    """The crash-like ambiguous send: the client cannot tell whether its first send arrived,
    so the same request is on the wire twice, on two connections."""
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    body = {"workflow_type": "Flow", "task_queue": raw.q, "input": "once"}
    async with (
        keyed_client(http, tenant.admin_key) as one,
        keyed_client(http, tenant.admin_key) as two,
    ):
        answers = await asyncio.gather(
            *(c.post(raw.t.ns(f"/workflows/{wid}"), json=body, headers=same) for c in (one, two))
        )

    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert await count(raw) == 1


# -- signals, signal-with-start, cancel, terminate ----------------------------------------------


async def test_a_signal_sent_again_with_its_key_is_recorded_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    await raw.start(wid)

    answers = [
        await tenant.client.post(
            tenant.ns(f"/workflows/{wid}/signal/go"), json={"input": 1}, headers=same
        )
        for _ in range(3)
    ]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert len(of_type(await history(raw, wid), "WORKFLOW_EXECUTION_SIGNALED")) == 1


async def test_a_signal_sent_twice_at_once_is_recorded_once(tenant, http):
    raw = raw_on_fresh_queue(tenant)
    wid, request_id = uid(), uid("req")
    await raw.start(wid)
    path = tenant.ns(f"/workflows/{wid}/signal/go")
    async with (
        keyed_client(http, tenant.admin_key) as one,
        keyed_client(http, tenant.admin_key) as two,
    ):
        answers = await asyncio.gather(
            *(c.post(path, json={"input": 1, "request_id": request_id}) for c in (one, two))
        )

    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert len(of_type(await history(raw, wid), "WORKFLOW_EXECUTION_SIGNALED")) == 1


async def test_a_signal_key_reused_for_another_signal_is_refused(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, request_id = uid(), uid("req")
    await raw.start(wid)
    assert (await signal(tenant, wid, "go", 1, request_id=request_id)).status_code == 202

    other_input = await signal(tenant, wid, "go", 2, request_id=request_id)
    other_name = await signal(tenant, wid, "stop", 1, request_id=request_id)

    assert_problem(other_input, 422, "idempotency-key-reused")
    assert_problem(other_name, 422, "idempotency-key-reused")
    signals = of_type(await history(raw, wid), "WORKFLOW_EXECUTION_SIGNALED")
    assert [s["attributes"]["input"] for s in signals] == [1]


async def test_signal_with_start_sent_again_signals_once_even_after_the_run_closed(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    path = tenant.ns(f"/workflows/{wid}/signal-with-start/go")
    body = {"workflow_type": "Flow", "task_queue": raw.q, "signal_input": 1}
    first = await tenant.client.post(path, json=body, headers=same)
    await tenant.client.post(tenant.ns(f"/workflows/{wid}/terminate"), json={})

    again = await tenant.client.post(path, json=body, headers=same)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == first.json()["run_id"]
    assert await count(raw) == 1
    assert len(of_type(await history(raw, wid), "WORKFLOW_EXECUTION_SIGNALED")) == 1


async def test_a_cancel_sent_again_after_the_run_closed_gets_the_first_answer(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    await raw.start(wid)
    path = tenant.ns(f"/workflows/{wid}/cancel")
    first = await tenant.client.post(path, json={"reason": "stop"}, headers=same)
    task = await raw.next_workflow_task()
    await raw.complete(task, command("CANCEL_WORKFLOW_EXECUTION"))

    again = await tenant.client.post(path, json={"reason": "stop"}, headers=same)
    unkeyed = await tenant.client.post(path, json={"reason": "stop"})

    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    assert_problem(unkeyed, 409, "failed-precondition")
    events = await history(raw, wid)
    assert len(of_type(events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")) == 1


async def test_a_terminate_sent_again_gets_the_first_answer_instead_of_a_conflict(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid, request_id = uid(), uid("req")
    await raw.start(wid)
    path = tenant.ns(f"/workflows/{wid}/terminate")
    body = {"reason": "done", "request_id": request_id}

    first = await tenant.client.post(path, json=body)
    again = await tenant.client.post(path, json=body)
    unkeyed = await tenant.client.post(path, json={"reason": "done"})

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert_problem(unkeyed, 409, "failed-precondition")
    assert len(of_type(await history(raw, wid), "WORKFLOW_EXECUTION_TERMINATED")) == 1


async def test_a_terminate_sent_twice_at_once_terminates_once_and_answers_both(tenant, http):
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    await raw.start(wid)
    path = tenant.ns(f"/workflows/{wid}/terminate")
    async with (
        keyed_client(http, tenant.admin_key) as one,
        keyed_client(http, tenant.admin_key) as two,
    ):
        answers = await asyncio.gather(
            *(c.post(path, json={"reason": "x"}, headers=same) for c in (one, two))
        )

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert len(of_type(await history(raw, wid), "WORKFLOW_EXECUTION_TERMINATED")) == 1


# -- how long ids are kept ---------------------------------------------------------------------


async def test_keys_are_kept_a_day_and_while_their_run_is_open(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    closed_wid, open_wid = uid(), uid()
    closed_key, signal_key = key(), key()
    await raw.start(closed_wid, headers=closed_key)
    await tenant.client.post(tenant.ns(f"/workflows/{closed_wid}/terminate"), json={})
    await raw.start(open_wid)
    signal_path = tenant.ns(f"/workflows/{open_wid}/signal/go")
    await tenant.client.post(signal_path, json={}, headers=signal_key)
    engine = server.app.state.engine

    server.ctx.clock.advance(DAY - timedelta(minutes=1))
    await engine.deadline_loop.purge_expired_runs()
    within_a_day = await raw.start(closed_wid, expect=200, headers=closed_key)
    server.ctx.clock.advance(timedelta(minutes=2))
    await engine.deadline_loop.purge_expired_runs()
    after_a_day = await raw.start(closed_wid, expect=201, headers=closed_key)
    await tenant.client.post(signal_path, json={}, headers=signal_key)

    assert within_a_day["started"] is False
    assert after_a_day["run_id"] != within_a_day["run_id"]
    signals = of_type(await history(raw, open_wid), "WORKFLOW_EXECUTION_SIGNALED")
    assert len(signals) == 1  # its run is still open: the key is still known


@pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL (SQLite serves one)",
)
async def test_a_start_retried_on_another_replica_gets_the_first_answer(tenant, database_url):
    settings = Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        run_background_loops=False,
    )
    raw = raw_on_fresh_queue(tenant)
    wid, same = uid(), key()
    first = await raw.start(wid, headers=same)
    async with (
        serve_app(settings) as replica,
        httpx.AsyncClient(
            base_url=replica.base_url, headers={"Authorization": f"Bearer {tenant.admin_key}"}
        ) as there,
    ):
        again = await there.post(
            tenant.ns(f"/workflows/{wid}"),
            json={"workflow_type": "Flow", "task_queue": raw.q},
            headers=same,
        )

    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == first["run_id"]
