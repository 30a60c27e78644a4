"""A plain-HTTP decider's side of Workflow Update: send updates, answer them with protocol
messages and PROTOCOL_MESSAGE commands (docs/messages.md), as a client in any language would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant

UPDATE = "type.googleapis.com/temporal.api.update.v1."


async def send_update(
    tenant: Tenant, workflow_id: str, name: str, *args: Any, **body: Any
) -> httpx.Response:
    return await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/update/{name}"),
        json={"args": list(args), **body},
        timeout=40,
    )


async def poll_update(
    tenant: Tenant, workflow_id: str, update_id: str, **params: Any
) -> httpx.Response:
    return await tenant.client.get(
        tenant.ns(f"/workflows/{workflow_id}/updates/{update_id}"), params=params, timeout=40
    )


def request_of(message: dict[str, Any]) -> dict[str, Any]:
    return message["body"]


def accept(message: dict[str, Any]) -> dict[str, Any]:
    """The Acceptance of a Request message."""
    return {
        "id": f"{message['protocol_instance_id']}/accept",
        "protocol_instance_id": message["protocol_instance_id"],
        "body": {
            "@type": UPDATE + "Acceptance",
            "accepted_request_message_id": message["id"],
            "accepted_request_sequencing_event_id": message["event_id"],
            "accepted_request": {k: v for k, v in message["body"].items() if k != "@type"},
        },
    }


def respond(update_id: str, *, success: Any = None, failure: Any = None) -> dict[str, Any]:
    outcome = {"failure": failure} if failure is not None else {"success": success}
    return {
        "id": f"{update_id}/complete",
        "protocol_instance_id": update_id,
        "body": {
            "@type": UPDATE + "Response",
            "meta": {"update_id": update_id},
            "outcome": outcome,
        },
    }


def reject(message: dict[str, Any], why: str = "not valid") -> dict[str, Any]:
    return {
        "id": f"{message['protocol_instance_id']}/reject",
        "protocol_instance_id": message["protocol_instance_id"],
        "body": {
            "@type": UPDATE + "Rejection",
            "rejected_request_message_id": message["id"],
            "failure": {"message": why, "type": "ValueError"},
        },
    }


def placed(message: dict[str, Any]) -> dict[str, Any]:
    """The PROTOCOL_MESSAGE command that writes a message's event where it stands."""
    return {"command_type": "PROTOCOL_MESSAGE", "attributes": {"message_id": message["id"]}}
