"""Routing on the raw request path, so that an encoded slash stays inside its path segment.

Uvicorn hands the app a percent-decoded path, in which `order%2F42` has become two segments.
When the raw path holds an encoded slash, `RawPathRouting` routes on it instead: each segment is
decoded except for `/` and `%`, which stay encoded (`%2F`, `%25`) so the router sees the
request's own segments; `decode_path_params` then decodes every path parameter exactly once,
before any route reads it. `/workflows/order%2F42/signal/price%2Fupdate` names workflow
`order/42` and signal `price/update`, on every route.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

# Set in the scope of a request routed on its raw path: its path parameters are still encoded.
ENCODED_PARAMS = "perdure.encoded_path_params"


def _keep_segments(raw_path: bytes) -> str:
    segments = []
    for segment in raw_path.split(b"/"):
        text = unquote_to_bytes(segment).decode("utf-8", "replace")
        segments.append(text.replace("%", "%25").replace("/", "%2F"))
    return "/".join(segments)


class RawPathRouting:
    """ASGI middleware: route a request whose raw path holds `%2F` on that raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") if scope["type"] == "http" else None
        if raw_path and b"%2f" in raw_path.lower():
            scope = {**scope, "path": _keep_segments(raw_path), ENCODED_PARAMS: True}
        await self.app(scope, receive, send)


def decode_path_params(scope: Scope) -> None:
    """The path parameters of a request routed on its raw path, decoded (`order%2F42` →
    `order/42`). Called by the API edge (`app.api.edge.EdgeRoute`) once the route is chosen and
    before any dependency reads them: a plain function, not an app-wide FastAPI dependency,
    which every request would pay for in dependency solving."""
    if scope.get(ENCODED_PARAMS):
        params = scope["path_params"]
        for name, value in params.items():
            if isinstance(value, str):
                params[name] = unquote(value)
