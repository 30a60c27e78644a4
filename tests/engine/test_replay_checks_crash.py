"""A replay check survives a SIGKILL of the server: after restart it goes on from what was
answered, hands out again what was in flight, and finishes with every sampled run counted
once."""

from __future__ import annotations

import time

from tests.conftest import free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.engine.test_replay_checks import open_runs
from tests.engine_helpers import uid
from tests.rawhttp import Raw
from tests.replay_helpers import answer, get_check, register_version, replay_poll, start_check

TASK_SECONDS = 2


async def test_sigkill_during_a_replay_check_loses_nothing(database_url, tmp_path):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        proc.env["PERDURE_REPLAY_TASK_SECONDS"] = str(TASK_SECONDS)
        proc.env["PERDURE_POLL_FALLBACK_SECONDS"] = "0.5"
        try:
            await proc.start()
            tenant = await proc.new_tenant()
            raw = Raw(tenant, task_queue=uid("q"))
            runs = await open_runs(raw, 3)
            dep = uid("dep")
            register_version(url, tenant, dep, "v1", task_queues=(raw.q,))
            check = await start_check(tenant, dep, "v1")
            answered = await replay_poll(tenant, raw.q, dep, "v1")
            assert answered is not None
            await answer(tenant, answered["replay_task"]["token"])
            in_flight = await replay_poll(tenant, raw.q, dep, "v1")
            assert in_flight is not None

            proc.kill()
            await proc.start()

            after = await get_check(tenant, dep, "v1", check["check_id"])
            assert after["status"] == "running"
            progress = after["progress"]
            # The task in flight is still handed out, or already pending again when the
            # restart took longer than its deadline.
            assert progress["passed"] == 1 and progress["failed"] == 0
            assert progress["pending"] + progress["running"] == 2
            # The answer to the task in flight was lost with the server: it is handed out
            # again once its deadline passes, under a new token.
            seen = [answered["run_id"]]
            deadline = time.monotonic() + 30  # the deadline (2 s) plus the loop's look
            while len(seen) < 3 and time.monotonic() < deadline:
                task = await replay_poll(tenant, raw.q, dep, "v1", wait=1)
                if task is not None:
                    assert task["replay_task"]["token"] != in_flight["replay_task"]["token"]
                    seen.append(task["run_id"])
                    await answer(tenant, task["replay_task"]["token"])
            assert sorted(seen) == sorted(r["run_id"] for r in runs)
            await answer(tenant, in_flight["replay_task"]["token"], expect=404)

            done = await get_check(tenant, dep, "v1", check["check_id"])
            assert done["status"] == "passed"
            assert done["progress"]["passed"] == 3 and done["progress"]["total"] == 3
            await tenant.client.aclose()
        finally:
            proc.stop()
