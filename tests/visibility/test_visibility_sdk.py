"""The Python SDK lists and counts with Temporal's list filter and answer shapes."""

from __future__ import annotations

from perdure import Client

from tests.engine_helpers import register_search_attributes


async def test_sdk_lists_and_counts_by_query_with_temporals_shapes(tenant, server):
    await register_search_attributes(tenant, CustomerId="Keyword")
    client = await Client.connect(server.base_url, api_key=tenant.admin_key, namespace="main")
    try:
        for n in range(3):
            await client.start_workflow(
                "Payment",
                id=f"sdk-pay-{n}",
                task_queue="sdk-idle",
                search_attributes={"CustomerId": "c-42" if n else "c-1"},
            )
        await client.get_workflow_handle("sdk-pay-0").terminate("done")

        listed = [
            w
            async for w in client.list_workflows(
                "CustomerId = 'c-42' ORDER BY StartTime ASC", page_size=1
            )
        ]
        count = await client.count_workflows("WorkflowType = 'Payment'")
        grouped = await client.count_workflows("GROUP BY ExecutionStatus")
        combined = await client.count_workflows(
            "CustomerId = 'c-42'", workflow_id_prefix="sdk-pay-2"
        )
    finally:
        await client.close()

    assert [w.id for w in listed] == ["sdk-pay-1", "sdk-pay-2"]
    assert listed[0]["workflow_id"] == "sdk-pay-1"
    assert (listed[0].workflow_type, listed[0].status) == ("Payment", "RUNNING")
    assert listed[0].search_attributes == {"CustomerId": ["c-42"]}  # Temporal reads lists
    assert listed[0].start_time < listed[1].start_time
    assert (count, count.count, count.groups) == (3, 3, [])
    assert {tuple(g.group_values): g.count for g in grouped.groups} == {
        ("Running",): 2,
        ("Terminated",): 1,
    }
    assert combined == 1
