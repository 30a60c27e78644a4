"""docs/operations.md's Python snippet runs as written against the suite's server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from perdure.client import Client

from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import schedule_activity

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def snippet() -> dict[str, Any]:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 - the doc's own code, on purpose
    return scope


async def test_the_operations_guide_snippet_steers_an_activity_and_rolls_a_run_back(server, tenant):
    doc = snippet()
    raw = raw_on_fresh_queue(tenant)
    wid = uid("doc")
    started = await raw.start(wid)
    await raw.complete(await raw.next_workflow_task(), schedule_activity("c1", "Charge"))
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        await doc["steer"](client, wid)
        [steered] = (await raw.describe(wid))["pending_activities"]
        assert (steered["paused"], steered["attempt"]) == (False, 1)
        assert (await raw.next_activity_task())["start_to_close_timeout"] == 120

        new_run = await doc["roll_back"](client, wid)
    finally:
        await client.close()
    assert new_run not in ("", started["run_id"])
    described = await raw.describe(wid)
    assert (described["run_id"], described["status"]) == (new_run, "RUNNING")
