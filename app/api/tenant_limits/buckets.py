"""Token buckets: `rate` tokens a second, holding at most `burst` (DESIGN.md: burst = 2 × rate).

Written here rather than taken from a library: the rate-limit libraries for Python count in
fixed or moving windows, not buckets that refill, and a bucket is a dozen lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens a second
    burst: float  # tokens held at most
    tokens: float
    stamp: float  # seconds (monotonic) of the last refill

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, stamp=now)

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for_one(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now); takes nothing."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


def retry_after(seconds: float) -> int:
    """HTTP's Retry-After is whole seconds: round up, and never 0."""
    return max(1, math.ceil(seconds))
