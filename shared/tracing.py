"""Distributed tracing: W3C trace context through HTTP and Kafka headers (OpenTelemetry).

Each process has its own tracer provider (:func:`setup_tracing`). Spans leave the process only
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set and the
``otlp`` extra is installed; without an exporter nothing is exported, but the context still
propagates, so one trace id runs from an editor's HTTP request through ingest, translate and
feeds, and every record on the way carries it in its ``traceparent`` header.

* HTTP: :class:`TraceRequests` starts a server span for each write request (and for any request
  that arrives with a ``traceparent``); the response says which trace it joined in a
  ``traceresponse`` header (W3C Trace Context level 2).
* Kafka: FastStream's :class:`~faststream.kafka.opentelemetry.KafkaTelemetryMiddleware` (see
  :func:`telemetry_middleware`) continues the trace of a consumed record's ``traceparent`` and
  injects the current one into every record published. Records without headers (any Kafka
  client: kcat, a CMS) simply start a trace of their own.
* Batches: FastStream starts one fresh trace per batch (linked to the records' traces). Our batch
  consumers publish one event per article, so :func:`batch_scope` remembers each record's trace
  context by its key (the article id) and :func:`article_trace`, which
  :func:`shared.observability.article_context` enters, makes what is published about an article
  continue that article's own trace.
* Dead letters continue the trace of the record they carry (:func:`record_trace`).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset(PROPAGATOR.fields)  # traceparent, tracestate
OTLP_EXPORTERS = {
    # OTEL_EXPORTER_OTLP_PROTOCOL: (module, what to install)
    "http/protobuf": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "city-syndication[otlp] (opentelemetry-exporter-otlp-proto-http)",
    ),
    "grpc": (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "opentelemetry-exporter-otlp-proto-grpc",
    ),
}

# Per batch delivery: record key (the article id) -> that record's trace headers.
_batch: ContextVar[Mapping[str, Mapping[str, str]] | None] = ContextVar("batch", default=None)


def setup_tracing(service: str) -> TracerProvider:
    """The process's tracer provider; an OTLP exporter when one is configured (see module doc).

    ``OTEL_SERVICE_NAME`` overrides the service name; ``OTEL_SDK_DISABLED=true`` turns spans off
    (incoming trace context is still passed on).
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return trace.NoOpTracerProvider()
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = SdkTracerProvider(
        resource=Resource.create({SERVICE_NAME: name, "service.namespace": "city-syndication"})
    )
    exporter = otlp_exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
        log.info("exporting spans (OTLP)", extra={"otel_service_name": name})
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # the first one in a process (tests build several)
    return provider


def otlp_exporter() -> Any | None:
    """An OTLP span exporter when an endpoint is set; None (and a clear warning) otherwise."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint or os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    protocol = (
        (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        .strip()
        .lower()
    )
    module_name, package = OTLP_EXPORTERS.get(protocol, OTLP_EXPORTERS["http/protobuf"])
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        log.warning(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
            f"install {package}; spans are not exported (trace context still propagates)",
            extra={"otel_endpoint": endpoint},
        )
        return None
    # Endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_* variables.
    return module.OTLPSpanExporter()


def shutdown_tracing(provider: TracerProvider) -> None:
    """Export what is buffered (blocking; at most the exporter's timeout)."""
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def telemetry_middleware(provider: TracerProvider) -> KafkaTelemetryMiddleware:
    """FastStream's Kafka middleware: consume spans continue the record's trace, publishes
    carry ``traceparent``. Its OpenTelemetry metrics go to the global meter provider (none is
    configured, so they cost nothing); ours are Prometheus (:mod:`shared.metrics`)."""
    return KafkaTelemetryMiddleware(tracer_provider=provider, include_messages_counters=False)


def carrier(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """The trace headers of a Kafka record (``traceparent``, ``tracestate``), as text."""
    return {
        k: (v or b"").decode("utf-8", "replace") for k, v in headers or () if k in TRACE_HEADERS
    }


@contextmanager
def attached(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Make the trace in ``headers`` the current one inside the block (nothing if none)."""
    if not headers or "traceparent" not in headers:
        yield
        return
    token = otel_context.attach(PROPAGATOR.extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def record_trace(record: Any) -> Any:
    """Continue the trace of one Kafka record inside the block (dead letters use it)."""
    return attached(carrier(getattr(record, "headers", None)))


@contextmanager
def batch_scope(records: Iterable[Any]) -> Iterator[None]:
    """Remember, for the handler of a batch, each record's trace by its key (later wins)."""
    traces: dict[str, dict[str, str]] = {}
    for record in records:
        found = carrier(record.headers) if record.key and record.headers else None
        if found and "traceparent" in found:
            traces[record.key.decode("utf-8", "replace")] = found
    token = _batch.set(traces)
    try:
        yield
    finally:
        _batch.reset(token)


def article_trace(article_id: str) -> Any:
    """Inside a batch handler: continue the trace of the record that brought this article."""
    traces = _batch.get()
    return attached(traces.get(article_id) if traces else None)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, if there is one (for log lines)."""
    ctx = trace.get_current_span().get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else None


def traceparent(span: Span) -> str:
    ctx = span.get_span_context()
    return (
        f"00-{trace.format_trace_id(ctx.trace_id)}-{trace.format_span_id(ctx.span_id)}"
        f"-{int(ctx.trace_flags):02x}"
    )


class TraceRequests:
    """ASGI middleware: a server span per write request (POST, PUT, PATCH, DELETE), and per any
    request that arrives with a ``traceparent`` (continuing it). Reads without one (feed polls,
    the bulk of the traffic) and the operations endpoints are not traced: nothing downstream
    would join their trace. The response's ``traceresponse`` header names the span."""

    READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(
        self,
        app: ASGIApp,
        tracer_provider: TracerProvider,
        skip: Collection[str] = ("/healthz", "/readyz", "/metrics"),
    ) -> None:
        self.app = app
        self.tracer = tracer_provider.get_tracer(__name__)
        self.skip = frozenset(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        incoming = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"traceparent", b"tracestate")
        }
        method: str = scope["method"]
        if method in self.READS and "traceparent" not in incoming:
            await self.app(scope, receive, send)
            return
        parent = PROPAGATOR.extract(incoming) if incoming else None
        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            header = (b"traceresponse", traceparent(span).encode())

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
