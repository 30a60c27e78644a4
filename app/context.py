"""What one server process holds: settings, database, clock, and the engine's wake-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from app.auth.cache import AuthCache
from app.clock import Clock
from app.db.database import Database
from app.observability.metrics import EngineMetrics
from app.observability.traces import provider_from_settings
from app.sealing import Sealer
from app.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=Clock)
    auth_cache: AuthCache = field(init=False)
    sealer: Sealer = field(init=False)
    # Every Prometheus metric of this process (HTTP and engine) lives in this registry.
    metrics_registry: CollectorRegistry = field(init=False)
    metrics: EngineMetrics = field(init=False)
    # Set: requests and transitions are traced (tests pass one with an in-memory exporter).
    tracer_provider: TracerProvider | None = None
    tracer: Tracer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.tracer_provider is None:
            self.tracer_provider = provider_from_settings(self.settings.otlp_endpoint)
        if self.tracer_provider is not None:
            self.tracer = self.tracer_provider.get_tracer("perdure")
        self.auth_cache = AuthCache(self.settings.auth_cache_seconds)
        self.sealer = Sealer.from_settings(self.settings)  # refuses production without a key
        self.metrics_registry = CollectorRegistry()
        self.metrics = EngineMetrics(self.metrics_registry, self.settings.metrics_max_namespaces)
