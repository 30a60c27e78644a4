"""Temporal's converter objects on Perdure's wire: plain JSON by default (REST readers see the
values), `bytes` and a codec's output as the documented envelope, a `PayloadCodec` applied by
client and worker, pydantic models, and `testing.ActivityEnvironment`."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pydantic
import pytest
from perdure import activity, workflow
from perdure.client import Client
from perdure.contrib.pydantic import pydantic_data_converter
from perdure.converter import DataConverter, DefaultPayloadConverter, Payload, PayloadCodec
from perdure.exceptions import CancelledError
from perdure.testing import ActivityEnvironment
from perdure.worker import Worker

from tests.sdk_helpers import new_id, query_until, sdk_client

QUEUE = "converters"


class Rot13Codec(PayloadCodec):
    """A stand-in for encryption: every payload becomes `binary/rot` (reversible)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload({"encoding": b"binary/rot"}, bytes((b + 13) % 256 for b in p.data))
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload({"encoding": b"json/plain"}, bytes((b - 13) % 256 for b in p.data))
            for p in payloads
        ]


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(server) as connected:
        yield connected


@activity.defn
async def flip(data: bytes) -> bytes:
    return data[::-1]


@workflow.defn
class Bytes:
    @workflow.run
    async def run(self, data: bytes) -> bytes:
        return await workflow.execute_activity(
            flip, data, start_to_close_timeout=timedelta(seconds=5)
        )


async def test_bytes_travel_as_the_binary_envelope(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[Bytes], activities=[flip]):
        handle = await client.start_workflow(
            Bytes.run, b"\x00\xffabc", id=new_id("bytes"), task_queue=QUEUE
        )
        assert await handle.result() == b"cba\xff\x00"
    started = (await handle.fetch_history())["events"][0]["attributes"]["input"]
    assert started == {
        "metadata": {"encoding": base64.b64encode(b"binary/plain").decode()},
        "data": base64.b64encode(b"\x00\xffabc").decode(),
    }


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class Secret:
    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.query
    def seen(self) -> list[str]:
        return self.notes

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: bool(self.notes))
        greeting = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=5)
        )
        return f"{greeting} / {self.notes[0]}"


async def test_a_codec_is_applied_by_client_and_worker(server: Any, client: Client) -> None:
    coded = await Client.connect(
        server.base_url,
        api_key=client.http._pools[0].headers["Authorization"].removeprefix("Bearer "),
        namespace=client.namespace,
        data_converter=DataConverter(payload_codec=Rot13Codec()),
    )
    try:
        async with Worker(coded, task_queue=QUEUE, workflows=[Secret], activities=[greet]):
            handle = await coded.start_workflow(
                Secret.run, "ann", id=new_id("secret"), task_queue=QUEUE
            )
            await handle.signal(Secret.note, "classified")
            await query_until(handle, Secret.seen, ["classified"])
            assert await handle.result() == "hello ann / classified"
        events = (await handle.fetch_history())["events"]
        stored = [e["attributes"].get("input") or e["attributes"].get("result") for e in events]
        encoded = [v for v in stored if isinstance(v, dict) and "metadata" in v]
        assert len(encoded) >= 4  # start, signal, activity input and result, completion
        assert all(base64.b64decode(v["metadata"]["encoding"]) == b"binary/rot" for v in encoded)
        assert "classified" not in str(events) and "ann" not in str(stored)
        # A client without the codec reads the envelope as it is stored.
        raw = await client.get_workflow_handle(handle.id).result()
        assert isinstance(raw, dict) and set(raw) == {"metadata", "data"}
    finally:
        await coded.close()


class Order(pydantic.BaseModel):
    id: int
    items: list[str]


@workflow.defn
class Orders:
    @workflow.run
    async def run(self, order: Order) -> Order:
        return Order(id=order.id + 1, items=[*order.items, "gift"])


async def test_pydantic_models_with_temporals_pydantic_converter(
    server: Any, client: Client
) -> None:
    key = client.http._pools[0].headers["Authorization"].removeprefix("Bearer ")
    typed = await Client.connect(
        server.base_url,
        api_key=key,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
    )
    try:
        async with Worker(typed, task_queue=QUEUE, workflows=[Orders]):
            result = await typed.execute_workflow(
                Orders.run, Order(id=1, items=["a"]), id=new_id("order"), task_queue=QUEUE
            )
        assert result == Order(id=2, items=["a", "gift"])
    finally:
        await typed.close()


def test_the_default_payload_converter_round_trips_temporals_encodings() -> None:
    converter = DefaultPayloadConverter()
    payloads = converter.to_payloads([None, b"\x01", {"a": [1, 2]}, "text"])
    assert [p.metadata["encoding"] for p in payloads] == [
        b"binary/null",
        b"binary/plain",
        b"json/plain",
        b"json/plain",
    ]
    assert converter.from_payloads(payloads) == [None, b"\x01", {"a": [1, 2]}, "text"]
    assert converter.from_payload(converter.to_payload(Order(id=3, items=[])), Order) == Order(
        id=3, items=[]
    )


@activity.defn
def sync_work(steps: int) -> str:
    for step in range(steps):
        activity.heartbeat(step)
    return f"{activity.info().activity_type} did {steps}"


@activity.defn
async def waits() -> str:
    await activity.wait_for_cancelled()
    raise CancelledError("stopping")


async def test_activity_environment_runs_an_activity_without_a_server() -> None:
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    assert env.run(sync_work, 3) == "sync_work did 3"
    assert beats == [(0,), (1,), (2,)]

    cancelled = ActivityEnvironment()
    running = asyncio.ensure_future(cancelled.run(waits))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises((CancelledError, asyncio.CancelledError)):
        await running


async def test_the_console_shows_an_envelope_as_encoded(server: Any, client: Client) -> None:
    import httpx

    from tests.console.test_console_sessions import sign_in_form

    async with Worker(client, task_queue=QUEUE, workflows=[Bytes], activities=[flip]):
        handle = await client.start_workflow(
            Bytes.run, b"secret-bytes", id=new_id("shown"), task_queue=QUEUE
        )
        await handle.result()
    key = client.http._pools[0].headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
        page = await browser.get(
            f"/console/n/{client.namespace}/workflows/{handle.id}/runs/{handle.run_id}"
        )
    assert page.status_code == 200
    assert '<span class="j-encoded">encoded</span>' in page.text
    assert "binary/plain" in page.text
    # The input section shows the badge, not the base64 (the "start a run like this one"
    # form keeps the stored JSON to send it again).
    shown = page.text.split('id="input-h"', 1)[1].split("</section>", 1)[0]
    assert "encoded" in shown and base64.b64encode(b"secret-bytes").decode() not in shown
