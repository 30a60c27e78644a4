"""Request and response models of the development clock (Temporal's TestService)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.api.schemas.common import as_utc

# A test sleeps at most this long in engine time in one call (ten years, in seconds): enough for
# any workflow a test drives, and far from datetime's overflow.
MAX_SLEEP_SECONDS = 10 * 366 * 86400.0


class DevClock(BaseModel):
    """The engine clock and the time-skipping lock (Temporal's `GetCurrentTime`)."""

    time: datetime = Field(description="The engine's current time (UTC)")
    time_skipping: bool = Field(description="Whether this server skips time when idle")
    lock_count: int = Field(description="Holders of the time-skipping lock; it skips only at 0")


class DevClockSleep(BaseModel):
    """Temporal's `UnlockTimeSkippingWithSleep` / `Sleep`: a length of engine time."""

    model_config = ConfigDict(extra="forbid")

    duration: float = Field(ge=0, le=MAX_SLEEP_SECONDS, description="Seconds of engine time")


class DevClockSleepUntil(BaseModel):
    """Temporal's `SleepUntil`: a moment of engine time."""

    model_config = ConfigDict(extra="forbid")

    time: Annotated[datetime, AfterValidator(as_utc)] = Field(
        description="Return once the engine clock reaches this moment (a naive time is UTC)"
    )
