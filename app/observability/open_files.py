"""The open-file limit, logged: at the limit the event loop cannot accept connections, and a
client sees only a refusal. One WARNING a minute at most says so, with the limit and the count
of descriptors in use (issue 28: nothing was logged at all).

Two ways to notice, since uvloop (uvicorn's loop when installed) reports a failed accept to
no one: asyncio's "socket.accept() out of system resource" through the loop's exception
handler, and a look at the count every CHECK_SECONDS (within HEADROOM of the limit counts as
at it: libuv keeps a descriptor in reserve to shed connections with)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import time
from typing import Any

log = logging.getLogger("perdure.server")

EVERY_SECONDS = 60.0
CHECK_SECONDS = 2.0
HEADROOM = 4
_AT_LIMIT = {errno.EMFILE, errno.ENFILE}


def descriptors_in_use(limit: int) -> int:
    """Open file descriptors of this process (Linux: /proc/self/fd). Listing them takes a
    descriptor too: when none is left, that failure says they are all in use (`limit`)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError as exc:
        return limit if exc.errno in _AT_LIMIT else -1


class OpenFileLimitLog:
    """An event-loop exception handler that turns "socket.accept() out of system resource"
    into one line a minute; every other context goes to the handler it replaced."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last = -EVERY_SECONDS
        self._refusals = 0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._previous = loop, loop.get_exception_handler()
        loop.set_exception_handler(self._handle)
        self._watch = loop.create_task(self._look_now_and_then(), name="perdure-open-files")

    def uninstall(self) -> None:
        if self._loop is not None:
            self._loop.set_exception_handler(self._previous)
            self._watch.cancel()
            self._loop = None

    async def _look_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            if soft != resource.RLIM_INFINITY and descriptors_in_use(soft) >= soft - HEADROOM:
                self._at_limit()

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in _AT_LIMIT):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._refusals += 1
        self._at_limit()

    def _at_limit(self) -> None:
        now = time.monotonic()
        if now - self._last < EVERY_SECONDS:
            return
        self._last = now
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = descriptors_in_use(soft)
        log.warning(
            "open-file limit reached: %d descriptors in use, limit %d (RLIMIT_NOFILE); new "
            "connections are refused until some close (%d refused accept(s) seen since the "
            "last line)",
            in_use,
            soft,
            self._refusals,
            extra={"open_files": in_use, "open_file_limit": soft},
        )
        self._refusals = 0
