"""Traces: OpenTelemetry spans for each request and each transition. W3C trace context is
taken from incoming requests (`traceparent`) and carried into the activities they schedule:
a worker's poll answer has the activity's `traceparent`, and a webhook delivery sends it as a
header, so the worker continues the trace. Exported by OTLP over HTTP when
PERDURE_OTLP_ENDPOINT is set; otherwise no tracer exists and nothing is spent on spans."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app import __version__

PROPAGATOR = TraceContextTextMapPropagator()


def provider_from_settings(otlp_endpoint: str | None) -> TracerProvider | None:
    """A provider exporting to `otlp_endpoint` (e.g. http://collector:4318), or None."""
    if not otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": "perdure", "service.version": __version__})
    )
    endpoint = otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def current_traceparent() -> str | None:
    """The `traceparent` of the span active now, or None outside any recorded trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def span(tracer: trace.Tracer | None, name: str) -> Iterator[None]:
    """A span named `name` when tracing is on; nothing at all when it is off."""
    if tracer is None:
        yield
        return
    with tracer.start_as_current_span(name):
        yield
