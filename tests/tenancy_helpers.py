"""Small helpers shared by the foundation tests: problem answers and API keys made over HTTP."""

from __future__ import annotations

from datetime import datetime

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://perdure.dev/problems/"


def assert_problem(response: httpx.Response, status: int, kind: str | None = None) -> dict:
    """The response is an RFC 9457 problem of that status (and kind); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.headers
    body = response.json()
    for member in ("type", "title", "status", "detail"):
        assert member in body, f"problem lacks '{member}': {body}"
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_TYPE_BASE)
    assert body["title"] and body["detail"]
    if kind is not None:
        assert body["type"] == PROBLEM_TYPE_BASE + kind, body
    return body


async def create_key(
    admin: httpx.AsyncClient,
    role: str,
    *,
    name: str | None = None,
    namespaces: list[str] | None = None,
    expires_at: datetime | None = None,
) -> dict:
    """A new API key of the admin client's tenant: the creation answer, secret in `key`."""
    body: dict = {"name": name or f"{role}-key", "role": role}
    if namespaces is not None:
        body["namespaces"] = namespaces
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    created = await admin.post("/api/v1/api-keys", json=body)
    assert created.status_code == 201, created.text
    return created.json()
