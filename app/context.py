"""What one server process holds: settings, database, clock, and the engine's wake-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from app.auth.cache import AuthCache
from app.clock import Clock
from app.db.database import Database
from app.observability.metrics import EngineMetrics
from app.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=Clock)
    auth_cache: AuthCache = field(init=False)
    # Every Prometheus metric of this process (HTTP and engine) lives in this registry.
    metrics_registry: CollectorRegistry = field(init=False)
    metrics: EngineMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.auth_cache = AuthCache(self.settings.auth_cache_seconds)
        self.metrics_registry = CollectorRegistry()
        self.metrics = EngineMetrics(self.metrics_registry, self.settings.metrics_max_namespaces)
