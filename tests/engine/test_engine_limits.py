"""Limits from DESIGN.md's table, each refused with a clear problem that changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.engine.run_limits import MAX_PENDING_ACTIVITIES, MAX_SIGNALS
from app.settings import Environment, Settings
from tests.rawhttp import Raw, new_events, schedule_activity


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:8]}")


async def test_more_pending_activities_than_the_limit_fail_the_task_and_schedule_none(raw):
    await raw.start("too-many-activities")
    task = await raw.next_workflow_task()
    commands = [schedule_activity(f"a{i}") for i in range(MAX_PENDING_ACTIVITIES + 1)]
    refused = await raw.complete(task, *commands, expect=400)
    assert refused.json()["cause"] == "PENDING_ACTIVITIES_LIMIT_EXCEEDED"
    retry = await raw.next_workflow_task()
    types = [e["event_type"] for e in new_events(retry)]
    assert "WORKFLOW_TASK_FAILED" in types
    assert "ACTIVITY_TASK_SCHEDULED" not in await raw.event_types("too-many-activities")


async def test_signals_past_the_limit_are_refused_with_a_problem(raw, tenant):
    await raw.start("chatty")
    path = tenant.ns("/workflows/chatty/signal/ping")
    for first in range(0, MAX_SIGNALS, 100):
        answers = await asyncio.gather(
            *(tenant.client.post(path, json={"input": i}) for i in range(first, first + 100))
        )
        assert {a.status_code for a in answers} == {202}
    refused = await tenant.client.post(path, json={"input": "one too many"})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/limit-exceeded")
    described = await raw.describe("chatty")
    assert described["history_length"] == 2 + MAX_SIGNALS  # started, task scheduled, signals


def test_time_skipping_is_refused_in_production_settings():
    with pytest.raises(ValidationError, match="production"):
        Settings(time_skipping=True, environment=Environment.PRODUCTION)
    assert Settings(time_skipping=True, environment=Environment.DEVELOPMENT).time_skipping


def test_perdure_serve_refuses_time_skipping_in_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
    env.update(
        PERDURE_TIME_SKIPPING="true", PERDURE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db"
    )
    perdure = str(Path(sys.executable).with_name("perdure"))
    finished = subprocess.run(
        [perdure, "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    assert "production" in finished.stdout
