"""OpenTelemetry traces across the services: one registration is one trace.

The W3C trace context travels with the work: an HTTP request's span (FastAPI makes it, continuing an incoming
`traceparent`) is the parent of the events written while handling it (the outbox entry keeps the `traceparent`
of the moment it was written), the relay publishes each event in a span whose context goes into the Kafka
message's `traceparent` header, and a consumer handles the event in a span continuing that context — so the
events it writes continue the same trace.

Off unless configured: OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://otel-collector:4318) sends spans over OTLP/HTTP.
Without it, the API's no-op tracer makes all of this nearly free. Tests install an in-memory exporter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind

_configured = False


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> None:
    """Install the exporter once per process (the provider is global in OpenTelemetry)."""
    global _configured
    if _configured or not otlp_endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(service: str) -> trace.Tracer:
    # The instrumentation scope names the service: spans of several services in one process stay apart.
    return trace.get_tracer(service)


def current_trace_headers() -> dict[str, str]:
    """The current context as W3C headers ({"traceparent": ...}); empty outside any span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def kafka_headers(carrier: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in carrier.items()]


def context_from_kafka(headers: Any) -> otel_context.Context:
    carrier = {k: v.decode(errors="replace") for k, v in (headers or ()) if isinstance(v, (bytes, bytearray))}
    return propagate.extract(carrier)


@contextlib.contextmanager
def consuming(service: str, topic: str, event_type: str, records_headers: list[Any]) -> Iterator[trace.Span]:
    """A CONSUMER span continuing the first record's trace (and linked to the others of a batch)."""
    contexts = [context_from_kafka(h) for h in records_headers]
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]
             if trace.get_current_span(c).get_span_context().is_valid]
    with tracer(service).start_as_current_span(f"handle {event_type}", context=contexts[0] if contexts else None,
                                               kind=SpanKind.CONSUMER, links=links,
                                               attributes={"messaging.system": "kafka",
                                                           "messaging.destination.name": topic,
                                                           "messaging.batch.message_count": len(records_headers)}
                                               ) as span:
        yield span


@contextlib.contextmanager
def publishing(service: str, topic: str, carrier: dict[str, str] | None) -> Iterator[list[tuple[str, bytes]]]:
    """A PRODUCER span under the context the event was written in; yields the headers to send with it."""
    parent = propagate.extract(carrier) if carrier else None
    with tracer(service).start_as_current_span(f"publish {topic}", context=parent, kind=SpanKind.PRODUCER,
                                               attributes={"messaging.system": "kafka",
                                                           "messaging.destination.name": topic}):
        yield kafka_headers(current_trace_headers())
