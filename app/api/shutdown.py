"""Prompt shutdown. On SIGTERM or SIGINT a server drains: /readyz answers 503, waiting long
polls, result waits and history waits answer at once (empty, as on timeout), new polls take no
task; then uvicorn stops listening, lets in-flight requests (transitions) finish, and the
background loops stop. A rolling deploy on Kubernetes waits seconds, not a long poll's 60 s.

uvicorn answers those signals only after every open request has finished, so the drain is
chained in front of the handlers uvicorn installs for the serving process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_drain_handlers(drain: Callable[[], None], grace_seconds: float) -> Callable[[], None]:
    """Chain `drain` before the process's current SIGTERM/SIGINT handlers (uvicorn's, while it
    serves); with `grace_seconds` > 0 the server keeps listening that long after draining began
    (so load balancers see /readyz fail first). Returns a function that puts the previous
    handlers back. Does nothing off the main thread, where handlers cannot be set."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def on_signal(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain)
        handler = previous.get(sig)
        if not callable(handler):
            return
        if grace_seconds > 0 and sig == signal.SIGTERM:
            loop.call_soon_threadsafe(loop.call_later, grace_seconds, handler, sig, frame)
        else:
            handler(sig, frame)

    for sig in SIGNALS:
        try:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: the embedding program owns signals
            previous.pop(sig, None)

    def restore() -> None:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)

    return restore
