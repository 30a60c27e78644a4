"""Prometheus request metrics, kept by a pure ASGI middleware (no per-request task overhead)."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import log_request
from app.observability.metrics import scrape_registry

MAX_LOGGED_PATH = 512  # characters of an unmatched request's path in its log line


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "perdure_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "perdure_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 60),
        )
        # (method, route, status) -> its counter and histogram children: `labels()` checks
        # and converts its arguments and takes a lock on every call. As many entries as the
        # metrics themselves have children.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> Response:
        registry = scrape_registry(self.registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _name_request_span(scope: Scope) -> None:
    """With tracing on, name the request's span by its route template (known only once the
    router matched; the span ends with the response, so before it starts)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    route = getattr(scope.get("route"), "path", None)
    if route:
        span.update_name(f"{scope['method']} {route}")
        span.set_attribute("http.route", route)
    namespace = scope.get("path_params", {}).get("namespace")
    if namespace:
        span.set_attribute("perdure.namespace", namespace)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _name_request_span(scope)
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            # The template, not the raw path, so that ids do not explode the label set.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            elapsed = time.perf_counter() - started
            self.metrics.observe(method, template, status, elapsed)
            namespace = scope.get("path_params", {}).get("namespace")
            # An unmatched request is logged with its path (cut short): the metric label stays
            # "unmatched", but an operator reading the log needs to know what was asked.
            path = None if route is not None else scope.get("path", "")[:MAX_LOGGED_PATH]
            log_request(method, template, status, elapsed, namespace, path=path)
