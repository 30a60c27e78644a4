"""What one server process holds: settings, database, clock, and the engine's wake-ups."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.clock import Clock
from app.db.database import Database
from app.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=Clock)
