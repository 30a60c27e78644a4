"""Fairness on a deployment's queue: a new task's place is reckoned from the head of the
backlog that the pollers taking it see, so a version's backlog that nobody takes (a pinned
run's tasks whose workers are gone) does not freeze the queue's virtual time for the others."""

from __future__ import annotations

from tests.versioning_helpers import VersionedRaw, pinned_to, set_routing

D = "shop"


def keyed(key: str) -> dict:
    return {"priority": {"fairness_key": key}}


async def test_a_stuck_pinned_backlog_gives_a_quiet_key_no_saved_up_credit(server, tenant):
    a = VersionedRaw(tenant, D, "A")
    b = VersionedRaw(tenant, D, "B")
    for worker in (a, b):
        assert await worker.poll("workflow") is None
        assert await worker.poll("activity") is None
    await set_routing(server, tenant, D, current="A")
    # A run pinned to A, whose workers then stop: its task stays first in the queue's order.
    await a.start("stuck", versioning_override=pinned_to(D, "A"), **keyed("old"))
    await set_routing(server, tenant, D, current="B")
    await b.start("k1", **keyed("k"))
    assert (await b.poll("workflow"))["workflow_id"] == "k1"
    for n in range(1, 7):
        await b.start(f"y{n}", **keyed("y"))
    assert [(await b.poll("workflow"))["workflow_id"] for _ in range(4)] == [
        "y1",
        "y2",
        "y3",
        "y4",
    ]

    # Key k was quiet while y's backlog moved on: its new tasks go right after B's head (as
    # on a queue without versions), not back where k last stood.
    await b.start("k2", **keyed("k"))
    await b.start("k3", **keyed("k"))
    taken = [(await b.poll("workflow"))["workflow_id"] for _ in range(4)]

    assert taken == ["y5", "k2", "y6", "k3"]
    assert (await a.poll("workflow"))["workflow_id"] == "stuck"
