"""Every setting of the server, read once from `PERDURE_*` environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(".perdure")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERDURE_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DATA_DIR}/perdure.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+psycopg://...",
    )
    database_password: str | None = Field(
        default=None,
        description="Password for the database URL's user, kept out of the URL (e.g. from a Kubernetes Secret); replaces a password in the URL.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8233, description="Port of the API (and the console).")
    workers: int = Field(
        default=1, description="Server processes (PostgreSQL only; SQLite is served by one)."
    )
    admin_token: str | None = Field(
        default=None, description="Bearer token of the system administrator (creates tenants)."
    )
    secret_key: str | None = Field(
        default=None,
        description="Seals webhook secrets and credential headers at rest; required in production.",
    )
    previous_secret_keys: list[str] = Field(
        default_factory=list,
        description="Earlier PERDURE_SECRET_KEYs (JSON list) that still open what they sealed.",
    )
    log_level: str = Field(
        default="info", description="debug, info, warning or error (logs go to stderr)."
    )
    environment: Environment = Field(
        default=Environment.PRODUCTION,
        description="production (JSON logs, secrets required) or development.",
    )
    hot_statements: bool = Field(
        default=True,
        description="Run hot statements past SQLAlchemy's per-call work (docs/adr/0002); false to measure without.",
    )
    time_skipping: bool = Field(
        default=False,
        description="Jump the clock to the next deadline when nothing else can happen (tests, dev).",
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process may reuse a key check; revocation elsewhere waits this long.",
    )
    poll_fallback_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Waiting long polls and loops look at the database this often even without a wake-up.",
    )
    idempotency_key_seconds: float = Field(
        default=86400.0,
        ge=86400.0,
        description="Request ids (Idempotency-Key, request_id) are kept at least this long, "
        "and while the run they reached is open (the IETF draft suggests 24 hours).",
    )
    # Limits between tenants (app/api/tenant_limits): server defaults per namespace; a namespace's
    # settings may change its own, up to `tenant_limit_multiple` times these for its tenant.
    namespace_writes_per_second: float = Field(
        default=1000.0, gt=0, description="Starts, signals and other writes a second (burst 2x)."
    )
    namespace_worker_requests_per_second: float = Field(
        default=4000.0,
        gt=0,
        description="Worker polls, completions, heartbeats a second (burst 2x).",
    )
    namespace_reads_per_second: float = Field(
        default=2000.0, gt=0, description="Reads a second (burst 2x)."
    )
    namespace_max_long_polls: int = Field(
        default=5000, gt=0, description="Long polls waiting at once in one namespace (429 beyond)."
    )
    namespace_max_held_waits: int = Field(
        default=500,
        gt=0,
        description="Event streams and result/history waits held open at once in one namespace "
        "on one process (429 with Retry-After beyond).",
    )
    tenant_max_held_waits: int = Field(
        default=1000,
        gt=0,
        description="The same for all namespaces of one tenant together.",
    )
    stream_stall_seconds: float = Field(
        default=30.0,
        gt=0,
        description="An event stream whose reader takes no data for this long is closed.",
    )
    tenant_requests_at_work: int | None = Field(
        default=None,
        ge=1,
        description="API requests of one tenant worked on at once in a process while no other "
        "tenant's are; the others wait their turn in the tenant's queue "
        "(default: 2 on SQLite, 16 on PostgreSQL).",
    )
    tenant_shared_requests_at_work: int = Field(
        default=1,
        ge=1,
        description="The same while other tenants' requests were let in within the last second: "
        "tenants sharing a process take turns.",
    )
    tenant_max_requests_in_flight: int = Field(
        default=5000,
        ge=1,
        description="API requests of one tenant in a process at once, at work or waiting their "
        "turn (long polls while they wait are not counted); beyond it 429 at once.",
    )
    tenant_limit_multiple: float = Field(
        default=4.0,
        ge=1,
        description="A tenant's namespaces together get at most this many times the defaults.",
    )
    shutdown_grace_seconds: float = Field(
        default=0.0,
        ge=0,
        le=120,
        description="On SIGTERM, keep listening this long after draining began (readyz 503, long polls answered) so load balancers stop sending first.",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="In production /metrics is served on this port of PERDURE_HOST (0: not "
        "at all) and not on the API port; in development it is on the API port.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="In production, /metrics on the API port too, for requests that send it "
        "as 'Authorization: Bearer <token>'.",
    )
    metrics_max_namespaces: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Namespaces that get their own `namespace` label on engine metrics (per process); the rest share '_other'.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318): spans of requests and transitions are exported there; unset, tracing is off.",
    )
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (bytes); larger ones are refused with 413.",
    )
    run_background_loops: bool = Field(
        default=True, description="Run the timer loop in this process (API-only replicas: false)."
    )
    visibility_query_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Longest a workflow list or count may read (s); past it the query is refused.",
    )
    visibility_scan_limit: int = Field(
        default=100_000,
        ge=0,
        description="A list filter no index narrows is refused on namespaces with more runs.",
    )
    batch_lease_seconds: float = Field(
        default=6.0,
        gt=0,
        description="A batch operation's lease: its holder renews it every third of this, and "
        "another loop takes the job over this long after its holder died.",
    )
    replay_task_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A replay task (issue #21's replay gate) not answered within this many "
        "seconds is handed out again; after its last attempt its run fails the check "
        '"timed out".',
    )
    drainage_check_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Worker Versioning: how often (engine clock) a draining or drained "
        "version's open pinned runs are counted again; a version's last pinned run closing "
        "also marks it drained at once.",
    )

    # -- the web console (app/console) ------------------------------------------------------
    console_session_seconds: float = Field(
        default=12 * 3600, gt=0, description="A console session ends this long after sign-in."
    )
    console_idle_seconds: float = Field(
        default=3600, gt=0, description="A console session unused this long ends."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OIDC issuer URL; when set the console offers single sign-on (Authlib).",
    )
    oidc_client_id: str | None = Field(default=None, description="The console's OIDC client id.")
    oidc_client_secret: str | None = Field(
        default=None, description="The console's OIDC client secret."
    )
    oidc_scopes: str = "openid profile email offline_access"
    oidc_tenant_claim: str = Field(
        default="perdure_tenant", description="ID-token claim naming the user's tenant."
    )
    oidc_role_claim: str = Field(
        default="perdure_role", description="ID-token claim naming the role (admin, operator, …)."
    )
    oidc_namespaces_claim: str = Field(
        default="perdure_namespaces",
        description="ID-token claim listing the namespaces the user may use (absent: all).",
    )

    @model_validator(mode="after")
    def _password_into_url(self) -> Settings:
        if self.database_password:
            from sqlalchemy.engine import make_url

            url = make_url(self.database_url).set(password=self.database_password)
            self.database_url = url.render_as_string(hide_password=False)
        return self

    @model_validator(mode="after")
    def _time_skipping_is_never_production(self) -> Settings:
        if self.time_skipping and self.environment == Environment.PRODUCTION:
            raise ValueError("PERDURE_TIME_SKIPPING is refused when PERDURE_ENVIRONMENT=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
