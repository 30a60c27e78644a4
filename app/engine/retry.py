"""Retry policies: Temporal's defaults, validation and the back-off between attempts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.run_limits import MAX_COUNTER, MAX_DURATION
from app.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float | None = None  # None: 100 x initial_interval
    maximum_attempts: int = 0  # 0: unlimited
    non_retryable_error_types: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(
        cls, value: dict[str, Any] | None, *, field_name: str = "retry_policy"
    ) -> RetryPolicy:
        if not value:
            return cls()
        try:
            policy = cls(
                initial_interval=float(value.get("initial_interval") or 1.0),
                backoff_coefficient=float(value.get("backoff_coefficient") or 2.0),
                maximum_interval=(
                    float(value["maximum_interval"]) if value.get("maximum_interval") else None
                ),
                maximum_attempts=int(value.get("maximum_attempts") or 0),
                non_retryable_error_types=tuple(
                    str(t) for t in value.get("non_retryable_error_types") or ()
                ),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"{field_name} is malformed: {exc}", field=field_name) from None
        policy.validate(field_name)
        return policy

    def validate(self, field_name: str) -> None:
        for name in ("initial_interval", "backoff_coefficient", "maximum_interval"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value <= MAX_DURATION):
                raise InvalidArgument(
                    f"{field_name}.{name} must be a finite number of at most {MAX_DURATION}",
                    field=f"{field_name}.{name}",
                )
        if not 0 <= self.maximum_attempts <= MAX_COUNTER:
            raise InvalidArgument(
                f"{field_name}.maximum_attempts must be between 0 and {MAX_COUNTER}",
                field=f"{field_name}.maximum_attempts",
            )
        if self.initial_interval <= 0:
            raise InvalidArgument(
                f"{field_name}.initial_interval must be positive", field=field_name
            )
        if self.backoff_coefficient < 1:
            raise InvalidArgument(
                f"{field_name}.backoff_coefficient must be at least 1", field=field_name
            )
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise InvalidArgument(
                f"{field_name}.maximum_interval must not be below initial_interval",
                field=field_name,
            )
        if self.maximum_attempts < 0:
            raise InvalidArgument(
                f"{field_name}.maximum_attempts must not be negative", field=field_name
            )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["maximum_interval"] = self.effective_maximum_interval
        data["non_retryable_error_types"] = list(self.non_retryable_error_types)
        return data

    @property
    def effective_maximum_interval(self) -> float:
        return self.maximum_interval or 100 * self.initial_interval

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after attempt `attempt` (1-based) failed."""
        ceiling = self.effective_maximum_interval
        try:
            interval = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        except OverflowError:  # a large coefficient to a large power: past any ceiling
            return ceiling
        return min(interval, ceiling)

    def allows_another(self, attempt: int) -> bool:
        return self.maximum_attempts == 0 or attempt < self.maximum_attempts

    def is_retryable(self, error_type: str | None, non_retryable: bool) -> bool:
        return not non_retryable and (error_type or "") not in self.non_retryable_error_types


class RetryState:
    """Why retrying stopped, as Temporal reports it on closing events."""

    IN_PROGRESS = "RETRY_STATE_IN_PROGRESS"
    NON_RETRYABLE_FAILURE = "RETRY_STATE_NON_RETRYABLE_FAILURE"
    MAXIMUM_ATTEMPTS_REACHED = "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"
    TIMEOUT = "RETRY_STATE_TIMEOUT"
    CANCEL_REQUESTED = "RETRY_STATE_CANCEL_REQUESTED"
    RETRY_POLICY_NOT_SET = "RETRY_STATE_RETRY_POLICY_NOT_SET"
