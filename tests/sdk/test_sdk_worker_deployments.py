"""The SDK's Worker Deployment calls (Perdure additions: temporalio's Client has none):
describe, promote, ramp, roll back and delete, and their refusals as RPCError."""

from __future__ import annotations

from datetime import timedelta

import pytest
from perdure import RPCError
from perdure.client import Client
from perdure.deployments import WorkerDeploymentVersion

from tests.engine_helpers import uid
from tests.versioning_helpers import age_version_polls, poll_as_version


async def test_promote_ramp_roll_back_and_delete_from_the_sdk(server, tenant):
    name = uid("dep")
    queue = uid("q")
    for build_id in ("v1", "v2"):
        await poll_as_version(tenant, name, build_id, ((queue, "workflow"),))
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        names = [d["name"] async for d in client.list_worker_deployments(page_size=1)]
        assert names == [name]
        token = (await client.describe_worker_deployment(name))["conflict_token"]

        promoted = await client.set_worker_deployment_current_version(
            name, "v1", conflict_token=token, ignore_replay_check=True
        )
        assert promoted.previous_version == WorkerDeploymentVersion(name, "")
        with pytest.raises(RPCError) as stale:
            await client.set_worker_deployment_current_version(
                name, "v2", conflict_token=token, ignore_replay_check=True
            )
        assert stale.value.status == 409 and "conflict token" in str(stale.value)

        ramped = await client.set_worker_deployment_ramping_version(
            name, "v2", 25.0, conflict_token=promoted.conflict_token, ignore_replay_check=True
        )
        assert ramped.previous_version is None and ramped.previous_percentage == 0
        described = await client.describe_worker_deployment_version(name, "v2")
        assert described["worker_deployment_version_info"]["status"] == "ramping"

        back = await client.set_worker_deployment_current_version(name, "")
        assert back.previous_version == WorkerDeploymentVersion(name, "v1")
        routing = (await client.describe_worker_deployment(name))["worker_deployment_info"][
            "routing_config"
        ]
        assert routing["current_version"]["build_id"] == ""
        assert routing["ramping_version"]["build_id"] == "v2"

        await client.set_worker_deployment_ramping_version(name, "", 0)
        await age_version_polls(server, tenant, name, "v1", by=timedelta(minutes=6))
        await age_version_polls(server, tenant, name, "v2", by=timedelta(minutes=6))
        await client.delete_worker_deployment_version(name, "v1")
        with pytest.raises(RPCError) as refused:
            await client.delete_worker_deployment(name)
        assert refused.value.status == 409
        await client.delete_worker_deployment_version(name, "v2", skip_drainage=True)
        await client.delete_worker_deployment(name)
        assert [d async for d in client.list_worker_deployments()] == []
    finally:
        await client.close()
