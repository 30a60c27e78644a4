"""The small names of Temporal's Python SDK that most programs use, behaving as Temporal
documents them: loggers, `workflow.unsafe`, method forms, `@workflow.init`, `workflow.wait`,
handler bookkeeping, run info, typed external handles, dynamic handlers and buffered signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from perdure import WorkflowQueryFailedError, activity, workflow
from perdure.client import Client
from perdure.common import RawValue
from perdure.worker import UnsandboxedWorkflowRunner, Worker

from tests.sdk_helpers import new_id, query_until, sdk_client

with workflow.unsafe.imports_passed_through():
    import json  # Temporal's idiom for importing inside a workflow module

QUEUE = "names"


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(server) as connected:
        yield connected


class Records(logging.Handler):
    """The records a logger emits (attached to the logger itself, so the level is ours)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("perdure.activity", "perdure.workflow")]
    for found in loggers:
        found.addHandler(handler)
        found.setLevel(logging.DEBUG)
    yield handler
    for found in loggers:
        found.removeHandler(handler)
        found.setLevel(logging.NOTSET)


# -- loggers --------------------------------------------------------------------------------------


@activity.defn
async def greet(name: str) -> str:
    activity.logger.info("greeting %s", name)
    return f"hello {name}"


@workflow.defn
class Logs:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("starting for %s", name)
        first = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )
        second = await workflow.execute_activity(
            greet, name.upper(), start_to_close_timeout=timedelta(seconds=10)
        )
        workflow.logger.info("done")
        return f"{first}, {second}"


async def test_activity_logger_adds_the_attempt_and_workflow_logger_is_silent_on_replay(
    client: Client, records: Records
) -> None:
    workflow_id = new_id("logs")
    # No cache: every workflow task replays the history from the start.
    async with Worker(
        client, task_queue=QUEUE, workflows=[Logs], activities=[greet], max_cached_workflows=0
    ):
        assert await client.execute_workflow(Logs.run, "ann", id=workflow_id, task_queue=QUEUE) == (
            "hello ann, hello ANN"
        )
    messages = [r.getMessage() for r in records.records]
    started = [m for m in messages if m.startswith("starting for ann")]
    assert len(started) == 1, messages  # three workflow tasks, logged once
    assert len([m for m in messages if m.startswith("done")]) == 1
    wf_record = next(r for r in records.records if r.getMessage().startswith("starting"))
    assert wf_record.temporal_workflow["workflow_id"] == workflow_id  # type: ignore[attr-defined]
    assert wf_record.temporal_workflow["workflow_type"] == "Logs"  # type: ignore[attr-defined]
    assert f"'workflow_id': '{workflow_id}'" in wf_record.getMessage()
    activity_records = [r for r in records.records if r.getMessage().startswith("greeting")]
    assert [r.temporal_activity["activity_type"] for r in activity_records] == [  # type: ignore[attr-defined]
        "greet",
        "greet",
    ]
    assert activity_records[0].temporal_activity["workflow_id"] == workflow_id  # type: ignore[attr-defined]
    assert "'attempt': 1" in activity_records[0].getMessage()


# -- no sandbox: the unsafe switches are accepted ---------------------------------------------


@workflow.defn(sandboxed=False)
class Unsafe:
    @workflow.run
    async def run(self) -> list[bool]:
        with workflow.unsafe.sandbox_unrestricted(), workflow.unsafe.imports_passed_through():
            encoded = json.dumps({"a": 1})
        return [
            workflow.unsafe.is_replaying(),
            workflow.unsafe.in_sandbox(),
            workflow.unsafe.is_sandbox_unrestricted(),
            encoded == '{"a": 1}',
        ]


async def test_unsafe_switches_do_nothing_without_a_sandbox(client: Client) -> None:
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[Unsafe],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        result = await client.execute_workflow(Unsafe.run, id=new_id("unsafe"), task_queue=QUEUE)
    assert result == [False, False, True, True]


# -- method forms -----------------------------------------------------------------------------


class Inventory:
    def __init__(self, stock: int) -> None:
        self.stock = stock

    @activity.defn
    async def reserve(self, count: int) -> int:
        self.stock -= count
        return self.stock

    @activity.defn
    def level(self) -> int:
        return self.stock


class Price:
    def __init__(self, rate: float) -> None:
        self.rate = rate

    @activity.defn(name="price")
    async def __call__(self, amount: int) -> float:
        return amount * self.rate


@workflow.defn
class Child:
    @workflow.run
    async def run(self, x: int) -> int:
        return x + 1


@workflow.defn
class Methods:
    @workflow.run
    async def run(self) -> list[Any]:
        timeout = timedelta(seconds=10)
        left = await workflow.execute_activity_method(
            Inventory.reserve, 3, start_to_close_timeout=timeout
        )
        handle = workflow.start_activity_method(Inventory.level, start_to_close_timeout=timeout)
        price = await workflow.execute_activity_class(Price, 4, start_to_close_timeout=timeout)
        child = await workflow.execute_child_workflow(Child.run, 41)
        return [left, await handle, price, child]


async def test_activities_as_methods_and_classes_run_on_their_instance(client: Client) -> None:
    inventory = Inventory(10)
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[Methods, Child],
        activities=[inventory.reserve, inventory.level, Price(1.5)],
    ):
        result = await client.execute_workflow(Methods.run, id=new_id("methods"), task_queue=QUEUE)
    assert result == [7, 7, 6.0, 42]
    assert inventory.stock == 7


# -- @workflow.init, workflow.wait, handlers finished -------------------------------------------


@workflow.defn
class Greeter:
    @workflow.init
    def __init__(self, name: str) -> None:
        self.name = name  # ready before any signal handler runs
        self.heard: list[str] = []

    @workflow.signal
    def hello(self, who: str) -> None:
        self.heard.append(f"{self.name} heard {who}")

    @workflow.run
    async def run(self, name: str) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.heard))
        return self.heard


async def test_workflow_init_takes_the_arguments_before_a_start_signal(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[Greeter]):
        handle = await client.start_workflow(
            Greeter.run,
            "ann",
            id=new_id("init"),
            task_queue=QUEUE,
            start_signal="hello",
            start_signal_args=["bob"],
        )
        assert await handle.result() == ["ann heard bob"]


@activity.defn
async def quick(x: int) -> int:
    return x


@workflow.defn
class Waits:
    def __init__(self) -> None:
        self.handled: list[str] = []

    @workflow.signal
    async def slow(self, text: str) -> None:
        await workflow.sleep(0.2)
        self.handled.append(text)

    @workflow.run
    async def run(self) -> dict[str, Any]:
        long = asyncio.ensure_future(workflow.sleep(timedelta(days=1)))
        short = workflow.start_activity(quick, 1, start_to_close_timeout=timedelta(seconds=9))
        done, pending = await workflow.wait([long, short], return_when=asyncio.FIRST_COMPLETED)
        shape = [len(done), len(pending), done[0] is short, pending[0] is long]
        long.cancel()
        await workflow.wait_condition(
            lambda: bool(self.handled) or not workflow.all_handlers_finished()
        )
        finished_before = workflow.all_handlers_finished()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"shape": shape, "before": finished_before, "handled": self.handled}


async def test_wait_keeps_order_and_handlers_can_be_awaited_before_returning(
    client: Client,
) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[Waits], activities=[quick]):
        handle = await client.start_workflow(
            Waits.run,
            id=new_id("wait"),
            task_queue=QUEUE,
            start_signal="slow",
            start_signal_args=["x"],
        )
        result = await handle.result()
    assert result == {"shape": [1, 1, True, True], "before": False, "handled": ["x"]}


# -- info, external handles -------------------------------------------------------------------


@workflow.defn
class Kid:
    @workflow.run
    async def run(self) -> list[Any]:
        parent = workflow.info().parent
        assert parent is not None
        return [parent.workflow_id, parent.run_id, parent.namespace]


@workflow.defn
class Parent:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        info = workflow.info()
        kid = await workflow.execute_child_workflow(Kid.run)
        return {
            "parent": info.parent,
            "kid": kid,
            "suggested": info.is_continue_as_new_suggested(),
            "length": info.get_current_history_length(),
            "run_id": info.run_id,
        }


async def test_info_names_the_parent_and_continue_as_new_is_not_suggested_early(
    client: Client,
) -> None:
    workflow_id = new_id("parent")
    async with Worker(client, task_queue=QUEUE, workflows=[Parent, Kid]):
        result = await client.execute_workflow(Parent.run, id=workflow_id, task_queue=QUEUE)
    assert result["parent"] is None
    assert result["kid"] == [workflow_id, result["run_id"], client.namespace]
    assert result["suggested"] is False
    assert result["length"] >= 3


@workflow.defn
class Target:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        self.got.append(text)

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got


@workflow.defn
class Sender:
    @workflow.run
    async def run(self, target_id: str) -> None:
        handle = workflow.get_external_workflow_handle_for(Target.run, target_id)
        await handle.signal(Target.note, "from sender")


async def test_external_handle_for_a_workflow_class_signals_it(client: Client) -> None:
    target_id = new_id("target")
    async with Worker(client, task_queue=QUEUE, workflows=[Target, Sender]):
        target = await client.start_workflow(Target.run, id=target_id, task_queue=QUEUE)
        await client.execute_workflow(Sender.run, target_id, id=new_id("sender"), task_queue=QUEUE)
        assert await target.result() == ["from sender"]


# -- dynamic handlers ---------------------------------------------------------------------------


@activity.defn(dynamic=True)
async def any_activity(args: Sequence[RawValue]) -> str:
    text = activity.payload_converter().from_payload(args[0].payload, str)
    return f"{activity.info().activity_type}:{text}"


@workflow.defn(dynamic=True)
class AnyWorkflow:
    def __init__(self) -> None:
        self.signals: list[list[Any]] = []

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        values = [workflow.payload_converter().from_payload(a.payload) for a in args]
        self.signals.append([name, *values])

    @workflow.query(dynamic=True)
    def any_query(self, name: str, args: Sequence[RawValue]) -> list[Any]:
        return [name, len(args), self.signals]

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> list[Any]:
        first = workflow.payload_converter().from_payload(args[0].payload, str)
        echoed = await workflow.execute_activity(
            "shout_it", first, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: len(self.signals) >= 2)
        return [workflow.info().workflow_type, echoed, self.signals]


async def test_dynamic_workflow_signal_query_and_activity_take_any_name(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[AnyWorkflow], activities=[any_activity]):
        handle = await client.start_workflow(
            "Invoice", args=["ready", 2], id=new_id("dynamic"), task_queue=QUEUE
        )
        await handle.signal("paid", 12)
        await query_until(handle, "whatever", ["whatever", 0, [["paid", 12]]])
        await handle.signal("shipped", args=["DHL", 3])
        result = await handle.result()
    assert result == ["Invoice", "shout_it:ready", [["paid", 12], ["shipped", "DHL", 3]]]


# -- signals without a handler are buffered -----------------------------------------------------


@workflow.defn
class LateHandlers:
    def __init__(self) -> None:
        self.got: list[str] = []
        self.ready = False

    @workflow.signal
    def go(self) -> None:
        self.ready = True

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.ready)
        before = workflow.get_signal_handler("late") is None
        workflow.set_signal_handler("late", lambda text: self.got.append(f"named {text}"))
        await asyncio.sleep(0)  # the buffered signals' handlers run as tasks, as in Temporal
        named = list(self.got)
        workflow.set_dynamic_signal_handler(
            lambda name, args: self.got.append(
                f"{name} {workflow.payload_converter().from_payload(args[0].payload)}"
            )
        )
        workflow.set_query_handler("count", lambda: len(self.got))
        await asyncio.sleep(0)
        return {"before": before, "named": named, "all": self.got}


async def test_signals_without_a_handler_wait_for_one_in_order(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[LateHandlers]):
        handle = await client.start_workflow(LateHandlers.run, id=new_id("late"), task_queue=QUEUE)
        await handle.signal("late", "one")
        await handle.signal("other", "x")
        await handle.signal("late", "two")
        await handle.signal(LateHandlers.go)
        result = await handle.result()
    assert result == {
        "before": True,
        "named": ["named one", "named two"],
        "all": ["named one", "named two", "other x"],
    }


@workflow.defn
class NeverHandles:
    @workflow.query
    def ping(self) -> str:
        return "pong"

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0.3)
        return "done"


async def test_a_signal_never_handled_is_warned_about_when_the_run_ends(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    workflow_id = new_id("unhandled")
    async with Worker(client, task_queue=QUEUE, workflows=[NeverHandles]):
        handle = await client.start_workflow(NeverHandles.run, id=workflow_id, task_queue=QUEUE)
        await handle.signal("nobody", 1)
        with caplog.at_level(logging.WARNING, logger="perdure.worker"):
            assert await handle.result() == "done"
        with pytest.raises(WorkflowQueryFailedError, match="no query 'missing'"):
            await handle.query("missing")
    warned = [r.getMessage() for r in caplog.records if workflow_id in r.getMessage()]
    assert any("{'nobody': 1}" in m for m in warned), warned
