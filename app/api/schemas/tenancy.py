"""Models for tenants, namespaces, API keys and the caller."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app.api.schemas.common import NameRule, TextRule, as_utc
from app.auth.roles import Role
from app.engine.run_limits import MAX_HISTORY_BYTES, MAX_HISTORY_EVENTS
from app.tenancy.namespaces import DEFAULT_RETENTION_DAYS

Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(StrictModel):
    name: str = Name


class Tenant(BaseModel):
    id: str
    name: str
    created_at: datetime
    disabled_at: datetime | None = Field(
        default=None, description="When the system administrator disabled it; null: enabled."
    )


class TenantDetail(Tenant):
    namespaces: list[str] = Field(description="Names of the tenant's namespaces.")


class TenantPage(BaseModel):
    tenants: list[Tenant]
    next_page_token: str | None


class ApiKeyCreate(StrictModel):
    name: Annotated[str, NameRule] = Field(min_length=1, max_length=200)
    role: Role
    namespaces: list[Annotated[str, NameRule]] | None = Field(
        default=None, max_length=1000, description="Namespaces the key may use; omit for all."
    )
    expires_at: Annotated[AwareDatetime, AfterValidator(as_utc)] | None = None


class ApiKey(BaseModel):
    id: str
    name: str
    role: Role
    namespaces: list[str] | None
    key_prefix: str = Field(description="First characters of the secret, to tell keys apart.")
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class ApiKeyWithSecret(ApiKey):
    key: str = Field(description="The secret. Shown once, here; store it now.")


class TenantCreated(BaseModel):
    tenant: Tenant
    api_key: ApiKeyWithSecret


class ApiKeyPage(BaseModel):
    api_keys: list[ApiKey]
    next_page_token: str | None


class NamespaceSettings(StrictModel):
    allow_private_network_targets: bool | None = Field(
        default=None,
        description="Let outbound calls (webhooks, HTTP tasks) reach private addresses.",
    )
    max_schedules: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Most schedules the namespace may hold (default 1000).",
    )
    max_concurrent_batch_operations: int | None = Field(
        default=None, ge=1, le=100, description="Batch operations running at once (default 1)."
    )
    writes_per_second: float | None = Field(
        default=None,
        ge=0.5,
        description="Starts, signals, cancels and other writes a second (burst: twice as many); "
        "default PERDURE_NAMESPACE_WRITES_PER_SECOND, at most the tenant's cap.",
    )
    worker_requests_per_second: float | None = Field(
        default=None,
        ge=0.5,
        description="Worker polls, completions and heartbeats a second (burst: twice as many).",
    )
    reads_per_second: float | None = Field(
        default=None, ge=0.5, description="Reads a second (burst: twice as many)."
    )
    max_long_polls: int | None = Field(
        default=None,
        ge=1,
        description="Long polls (worker polls, result and history waits) waiting at once; 429 beyond.",
    )
    # Workflow Update per run (Temporal's namespace dynamic config of the same meaning). The
    # ceilings are what one run's history can hold: every kept update writes two events
    # (MAX_HISTORY_EVENTS), and its arguments are written into history (MAX_HISTORY_BYTES).
    max_in_flight_updates: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY_EVENTS // 2,
        description="Updates one run may have in flight (admitted or accepted, not completed); "
        "429 beyond (Temporal's history.maxInFlightUpdates, default 10).",
    )
    max_total_updates: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY_EVENTS // 2,
        description="Updates one run may take in all (rejections not counted); 409 beyond, "
        "continue-as-new suggested from 90 % (Temporal's history.maxTotalUpdates, default 2000).",
    )
    max_in_flight_update_payload_bytes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY_BYTES,
        description="Bytes of arguments and headers of one run's updates in flight; 413 beyond "
        "(Temporal's history.maxInFlightUpdatePayloads, default 20 MiB = 20971520).",
    )


class NamespaceCreate(StrictModel):
    name: str = Name
    description: Annotated[str, TextRule] = Field(default="", max_length=10_000)
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=3650)
    settings: NamespaceSettings = Field(default_factory=NamespaceSettings)


class NamespaceUpdate(StrictModel):
    description: Annotated[str, TextRule] | None = Field(default=None, max_length=10_000)
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    settings: NamespaceSettings | None = None


class Namespace(BaseModel):
    name: str
    description: str
    retention_days: int
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class NamespacePage(BaseModel):
    namespaces: list[Namespace]
    next_page_token: str | None


class Me(BaseModel):
    tenant: str
    tenant_id: str
    key_id: str
    key_name: str
    role: Role
    namespaces: list[str] = Field(description="Namespaces this key may use, now.")
    all_namespaces: bool = Field(description="True when the key is scoped to every namespace.")
