"""Task priority and fairness (Temporal's `Priority` message): what a start, an activity or a
child asks for, how an unset field inherits from the calling run, and what a task carries.

Temporal (temporal/api/common/v1/message.proto, `Priority`): `priority_key` 1..5 with 1 the
highest and 3 the default; `fairness_key` at most 64 bytes; `fairness_weight` in
[0.001, 1000], default 1.0. A zero or empty field means "inherit from the calling workflow".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.errors import InvalidArgument

MIN_PRIORITY_KEY = 1
MAX_PRIORITY_KEY = 5
DEFAULT_PRIORITY_KEY = 3
MAX_FAIRNESS_KEY_BYTES = 64
MIN_FAIRNESS_WEIGHT = 0.001
MAX_FAIRNESS_WEIGHT = 1000.0
DEFAULT_FAIRNESS_WEIGHT = 1.0


class PriorityBody(BaseModel):
    """Temporal's `Priority`, as a request member. Each field left at zero / empty inherits
    the calling run's value (for a start with no caller: the default)."""

    model_config = ConfigDict(extra="forbid")

    priority_key: int = Field(
        default=0,
        description="1 (highest) to 5 (lowest); 0 or absent: inherit, else 3.",
    )
    fairness_key: str = Field(
        default="",
        description="Tasks are handed out fairly across fairness keys of one priority (at most "
        "64 bytes); empty: inherit, else the queue's one unkeyed key.",
    )
    fairness_weight: float = Field(
        default=0.0,
        description="This key's share relative to others, in [0.001, 1000]; 0 or absent: "
        "inherit, else 1.0 (a queue's override wins).",
    )


@dataclass(frozen=True)
class Priority:
    """A priority as stored: None for a field not set (inherit / default)."""

    priority_key: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None

    @property
    def effective_key(self) -> int:
        """The priority a task is ordered by: 1..5, 3 when unset."""
        return self.priority_key or DEFAULT_PRIORITY_KEY

    def inherit(self, parent: Priority) -> Priority:
        """Each unset field taken from `parent` (Temporal: children and activities inherit
        their run's priority unless they set their own)."""
        return Priority(
            self.priority_key or parent.priority_key,
            self.fairness_key or parent.fairness_key,
            self.fairness_weight or parent.fairness_weight,
        )

    def to_json(self) -> dict[str, Any] | None:
        """Temporal's JSON shape for a history event; None when nothing is set."""
        if self == NO_PRIORITY:
            return None
        out: dict[str, Any] = {}
        if self.priority_key:
            out["priority_key"] = self.priority_key
        if self.fairness_key:
            out["fairness_key"] = self.fairness_key
        if self.fairness_weight:
            out["fairness_weight"] = self.fairness_weight
        return out

    def columns(self) -> dict[str, Any]:
        """The `priority_key`, `fairness_key`, `fairness_weight` columns of a run or an
        activity row."""
        return {
            "priority_key": self.priority_key,
            "fairness_key": self.fairness_key,
            "fairness_weight": self.fairness_weight,
        }


NO_PRIORITY = Priority()


def of_row(row: Any) -> Priority:
    """The priority stored in a run's or an activity's row (mapping or `Run`)."""
    return Priority(row["priority_key"], row["fairness_key"], row["fairness_weight"])


def parse(value: PriorityBody | dict[str, Any] | None, *, field: str = "priority") -> Priority:
    """Validate a request's `priority` member; raises InvalidArgument (400) naming `field`
    for a key outside 1..5, a fairness key over 64 bytes, or a weight outside [0.001, 1000]."""
    if value is None:
        return NO_PRIORITY
    if isinstance(value, dict):
        try:
            value = PriorityBody.model_validate(value)
        except ValueError as err:
            raise InvalidArgument(f"{field}: {err}", field=field) from None
    key = value.priority_key
    if key != 0 and not MIN_PRIORITY_KEY <= key <= MAX_PRIORITY_KEY:
        raise InvalidArgument(
            f"{field}.priority_key must be between {MIN_PRIORITY_KEY} and {MAX_PRIORITY_KEY} "
            f"(0 inherits), not {key}",
            field=f"{field}.priority_key",
        )
    if len(value.fairness_key.encode()) > MAX_FAIRNESS_KEY_BYTES:
        raise InvalidArgument(
            f"{field}.fairness_key may be at most {MAX_FAIRNESS_KEY_BYTES} bytes",
            field=f"{field}.fairness_key",
        )
    weight = value.fairness_weight
    if weight != 0 and not MIN_FAIRNESS_WEIGHT <= weight <= MAX_FAIRNESS_WEIGHT:
        raise InvalidArgument(
            f"{field}.fairness_weight must be between {MIN_FAIRNESS_WEIGHT} and "
            f"{MAX_FAIRNESS_WEIGHT} (0 inherits), not {weight}",
            field=f"{field}.fairness_weight",
        )
    return Priority(key or None, value.fairness_key or None, weight or None)
