"""What one server process holds: settings, database, clock, and the engine's wake-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.auth.cache import AuthCache
from app.clock import Clock
from app.db.database import Database
from app.sealing import Sealer
from app.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=Clock)
    auth_cache: AuthCache = field(init=False)
    sealer: Sealer = field(init=False)

    def __post_init__(self) -> None:
        self.auth_cache = AuthCache(self.settings.auth_cache_seconds)
        self.sealer = Sealer.from_settings(self.settings)  # refuses production without a key
