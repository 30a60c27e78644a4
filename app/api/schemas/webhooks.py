"""Models of the webhook endpoint and delivery log routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field

from app.api.schemas.common import Identifier

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Names = Annotated[list[Identifier], Field(max_length=100)]


def check_header_value(value: str) -> str:
    """RFC 9110 field values: visible characters, spaces and tabs; no line breaks or NUL."""
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError("a header value must not contain control characters other than tab")
    return value


Url = Annotated[AnyHttpUrl, Field(description="http:// or https:// URL the tasks are POSTed to")]
Timeout = Annotated[float, Field(gt=0, le=600, description="Seconds to wait for an answer")]
Headers = Annotated[
    dict[
        Annotated[
            str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
        ],
        Annotated[str, Field(max_length=4000), AfterValidator(check_header_value)],
    ],
    Field(max_length=50, description="Extra headers sent with every delivery"),
]
Secret = Annotated[
    str, Field(max_length=200, description="`whsec_` + base64 of 24-64 random bytes")
]
Concurrency = Annotated[int, Field(ge=1, le=64, description="Deliveries in flight at once")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(Body):
    name: Name
    url: Url
    activity_types: Names = Field(default_factory=list, description="Activity types it serves")
    task_queues: Names = Field(
        default_factory=list, description="Task queues it serves (all their activity tasks)"
    )
    timeout: Timeout = 30.0
    headers: Headers = Field(default_factory=dict)
    enabled: bool = True
    retry_client_errors: bool = Field(
        default=False,
        description="Retry 4xx answers too (by default they fail the attempt for good)",
    )
    max_concurrency: Concurrency = 8
    secret: Secret | None = Field(default=None, description="Generated when not given")


class WebhookUpdate(Body):
    url: Url | None = None
    activity_types: Names | None = None
    task_queues: Names | None = None
    timeout: Timeout | None = None
    headers: Headers | None = None
    enabled: bool | None = None
    retry_client_errors: bool | None = None
    max_concurrency: Concurrency | None = None


class RotateSecret(Body):
    secret: Secret | None = Field(
        default=None, description="The new secret; generated when not given"
    )
    grace_period: Annotated[float, Field(ge=0, le=30 * 86400)] = Field(
        default=24 * 3600.0,
        description="Seconds the previous secret keeps signing (deliveries carry both signatures)",
    )


class Webhook(BaseModel):
    name: str
    url: str
    activity_types: list[str]
    task_queues: list[str]
    timeout: float
    headers: dict[str, str]
    enabled: bool
    disabled_reason: str | None
    retry_client_errors: bool
    max_concurrency: int
    previous_secret_expires_at: datetime | None = Field(
        description="While set and in the future, deliveries are signed with the previous secret too"
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(description="The signing secret. Shown once, here; store it now.")


class WebhookPage(BaseModel):
    webhooks: list[Webhook]
    next_page_token: str | None


class Delivery(BaseModel):
    id: str
    message_id: str = Field(description="The `webhook-id` header sent")
    workflow_id: str
    run_id: str
    activity_id: str
    activity_type: str
    attempt: int
    state: str = Field(
        description="`in_flight`, `completed`, `accepted` (202), `failed`, `refused` (outbound safety) or `abandoned` (the server stopped mid-send; the attempt timed out and was retried)"
    )
    started_at: datetime
    finished_at: datetime | None
    status_code: int | None
    latency_ms: float | None
    error: str | None
    response_excerpt: str | None


class DeliveryPage(BaseModel):
    deliveries: list[Delivery]
    next_page_token: str | None
