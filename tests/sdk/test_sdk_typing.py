"""Temporal-style code type-checks against the SDK as it does against temporalio: the package
ships `py.typed`, and `execute_workflow(MyWorkflow.run, arg)`, `start_workflow`,
`execute_activity` and `execute_child_workflow` are typed by what the function returns
(Temporal's overloads). Run with mypy --strict, as a user's CI would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "clients" / "python"

SAMPLE = """
from datetime import timedelta
from typing import assert_type

from perdure import activity, workflow
from perdure.client import Client, WorkflowHandle


@activity.defn
async def compose(name: str) -> str:
    return f"hello {name}"


@activity.defn
def count_letters(text: str) -> int:
    return len(text)


@workflow.defn
class Greeting:
    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.signal
    def add(self, name: str) -> None:
        self.names.append(name)

    @workflow.query
    def current(self) -> list[str]:
        return self.names

    @workflow.run
    async def run(self, name: str) -> int:
        text = await workflow.execute_activity(
            compose, name, start_to_close_timeout=timedelta(seconds=5)
        )
        assert_type(text, str)
        size = await workflow.execute_activity(
            count_letters, text, start_to_close_timeout=timedelta(seconds=5)
        )
        assert_type(size, int)
        child = await workflow.execute_child_workflow(Child.run)
        assert_type(child, bool)
        return size


@workflow.defn
class Child:
    @workflow.run
    async def run(self) -> bool:
        return True


async def main(client: Client) -> None:
    result = await client.execute_workflow(Greeting.run, "ann", id="g", task_queue="q")
    assert_type(result, int)
    handle = await client.start_workflow(Greeting.run, "ann", id="g", task_queue="q")
    assert_type(handle, WorkflowHandle[Greeting, int])
    assert_type(await handle.result(), int)
    await handle.signal(Greeting.add, "bob")
    typed = client.get_workflow_handle_for(Greeting.run, "g")
    assert_type(await typed.result(), int)
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    program = tmp_path / "program.py"
    program.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(program),
        ],
        env={"MYPYPATH": str(SDK), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_is_typed() -> None:
    assert (SDK / "perdure" / "py.typed").exists()


def test_temporal_style_code_is_typed_by_what_workflows_and_activities_return(
    tmp_path: Path,
) -> None:
    checked = mypy(tmp_path, SAMPLE)
    assert checked.returncode == 0, checked.stdout
    wrong = SAMPLE.replace("assert_type(result, int)", "assert_type(result, str)")
    checked = mypy(tmp_path, wrong)
    assert checked.returncode == 1
    assert 'Expression is of type "int", not "str"' in checked.stdout
