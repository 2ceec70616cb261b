"""Trace context: through HTTP, Kafka headers, batches and dead letters; trace ids in log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.messaging import DeadLetterPolicy, InvalidMessage, make_broker
from shared.observability import article_context, setup_logging
from shared.service import FASTAPI_TELEMETRY
from shared.settings import ServiceSettings

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def parent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


def trace_of(traceparent: str) -> str:
    return traceparent.split("-")[1]


@dataclass
class Record:
    """What aiokafka hands a consumer, as far as tracing and dead letters look."""

    key: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    value: bytes = b"{}"
    topic: str = "articles.ingested"
    partition: int = 0
    offset: int = 0


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


# --- batches, records, dead letters ---------------------------------------------------------


def test_in_a_batch_each_article_continues_the_trace_of_its_own_record() -> None:
    records = [
        Record(b"a1", [("traceparent", parent(TRACE_A).encode())]),
        Record(b"a2", [("traceparent", parent(TRACE_B).encode())]),
        Record(b"a3"),  # from a client without tracing: no headers
        Record(None, [("traceparent", parent(TRACE_B).encode())]),  # no key: no article
    ]
    assert tracing.current_trace_id() is None
    with tracing.batch_scope(records):
        with article_context(article_id="a1", version=2):
            assert tracing.current_trace_id() == TRACE_A
        with article_context(article_id="a2", version=1, language="en"):
            assert tracing.current_trace_id() == TRACE_B
            with article_context(language="tr"):  # nested, for one language: same article
                assert tracing.current_trace_id() == TRACE_B
        with article_context(article_id="a3"):
            assert tracing.current_trace_id() is None
    with article_context(article_id="a1"):  # outside a batch (an embargo release, say)
        assert tracing.current_trace_id() is None


def test_a_record_trace_is_continued_and_garbage_is_ignored() -> None:
    with tracing.record_trace(Record(b"k", [("traceparent", parent(TRACE_A).encode())])):
        assert tracing.current_trace_id() == TRACE_A
    with tracing.record_trace(Record(b"k", [("traceparent", b"\xff-not-a-trace")])):
        assert tracing.current_trace_id() is None
    assert tracing.current_trace_id() is None


class CapturingBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    async def publish(self, message: Any, topic: str, key: bytes | None = None) -> None:
        self.sent.append((topic, tracing.current_trace_id()))


async def test_a_dead_letter_joins_the_trace_of_its_record_and_logs_its_article(
    json_log: io.StringIO,
) -> None:
    policy = DeadLetterPolicy("translate", ServiceSettings())
    broker = CapturingBroker()
    policy.broker = broker  # type: ignore[assignment]
    record = Record(
        b"a1",
        [("traceparent", parent(TRACE_A).encode())],
        value=json.dumps({"article_id": "a1", "version": 4, "language": "fa"}).encode(),
    )
    await policy.send(record, InvalidMessage("no such publisher"), 1)
    assert broker.sent == [("articles.ingested.dlq", TRACE_A)]
    [line] = [json.loads(x) for x in json_log.getvalue().splitlines()]
    assert line["message"] == "dead-lettered" and line["reason"] == "no such publisher"
    assert (line["article_id"], line["version"], line["language"]) == ("a1", 4, "fa")
    assert line["trace_id"] == TRACE_A


# --- Kafka, through FastStream's telemetry middleware ---------------------------------------


async def test_published_records_carry_the_current_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = spans
    broker, _ = make_broker("ingest", ServiceSettings(), tracer_provider=provider)
    seen: list[dict[str, Any]] = []

    @broker.subscriber("articles.ingested", group_id="feeds")
    async def handle(body: dict[str, Any], message: KafkaMessage) -> None:
        seen.append(dict(message.headers))

    async with TestKafkaBroker(broker) as br:
        with provider.get_tracer("test").start_as_current_span("POST /articles") as span:
            await br.publish({"article_id": "a1"}, topic="articles.ingested", key=b"a1")
    [headers] = seen
    assert trace_of(headers["traceparent"]) == trace.format_trace_id(
        span.get_span_context().trace_id
    )


async def test_processed_lines_of_single_messages_carry_the_article() -> None:
    broker, _ = make_broker("feeds", ServiceSettings())

    @broker.subscriber("articles.translated", group_id="feeds")
    async def handle(body: dict[str, Any]) -> None: ...

    async with TestKafkaBroker(broker) as br:
        event = {"article_id": "a9", "version": 3, "language": "en", "headline": "x"}
        await br.publish(event, topic="articles.translated")
        log = broker.config.logger.logger.logger  # the test broker's mock of FastStream's logger
        lines = {c.args[1]: c.kwargs.get("extra") or {} for c in log.log.call_args_list}
    processed = lines["Processed"]
    fields = (processed["article_id"], processed["version"], processed["language"])
    assert fields == ("a9", 3, "en")
    assert processed["topic"] == "articles.translated"  # FastStream's own fields stay


# --- HTTP -----------------------------------------------------------------------------------


def traced_app(provider: TracerProvider) -> FastAPI:
    """As shared.service.asgi_app configures it (FastAPI's own telemetry would find ``provider``
    and add spans of its own to every request, feed polls included)."""
    api = FastAPI(telemetry={**FASTAPI_TELEMETRY, "tracer_provider": provider})

    @api.post("/articles/{article_id}")
    async def post(article_id: str) -> dict[str, str | None]:
        return {"trace": tracing.current_trace_id()}

    @api.get("/feed")
    async def feed() -> dict[str, str | None]:
        return {"trace": tracing.current_trace_id()}

    @api.get("/healthz")
    async def healthz() -> dict[str, str | None]:
        return {"trace": tracing.current_trace_id()}

    api.add_middleware(tracing.TraceRequests, tracer_provider=provider)
    return api


async def test_a_write_request_starts_a_server_span_and_says_which(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    transport = httpx.ASGITransport(app=traced_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        fresh = await http.post("/articles/a1")
        joined = await http.post("/articles/a2", headers={"traceparent": parent(TRACE_A)})
    response_trace = trace_of(fresh.headers["traceresponse"])
    assert fresh.json()["trace"] == response_trace
    assert trace_of(joined.headers["traceresponse"]) == TRACE_A == joined.json()["trace"]
    assert joined.headers["traceresponse"] != parent(TRACE_A)  # a span of its own, a child
    first, second = exporter.get_finished_spans()
    assert first.name == "POST /articles/{article_id}"
    assert first.kind is trace.SpanKind.SERVER
    assert first.attributes is not None and first.attributes["http.response.status_code"] == 200
    assert second.parent is not None and second.parent.span_id == 0xB7AD6B7169203331


async def test_reads_and_operations_endpoints_are_not_traced_unless_asked(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    transport = httpx.ASGITransport(app=traced_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://feeds") as http:
        poll = await http.get("/feed")
        asked = await http.get("/feed", headers={"traceparent": parent(TRACE_B)})
        health = await http.get("/healthz", headers={"traceparent": parent(TRACE_B)})
    assert "traceresponse" not in poll.headers and poll.json()["trace"] is None
    assert trace_of(asked.headers["traceresponse"]) == TRACE_B
    assert "traceresponse" not in health.headers
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /feed"]


# --- exporter set-up ------------------------------------------------------------------------


def test_without_an_endpoint_nothing_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.otlp_exporter() is None
    provider = tracing.setup_tracing("ingest")
    with provider.get_tracer("t").start_as_current_span("s") as span:
        assert span.get_span_context().is_valid  # context still made, and passed on
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "ingest"


def test_a_missing_otlp_exporter_is_said_clearly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")

    def missing(name: str) -> Any:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(tracing.importlib, "import_module", missing)
    with caplog.at_level(logging.WARNING, logger="shared.tracing"):
        assert tracing.otlp_exporter() is None
    assert "city-syndication[otlp]" in caplog.text and "not exported" in caplog.text
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    caplog.clear()
    assert tracing.otlp_exporter() is None and not caplog.text


def test_otel_service_name_overrides_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ingest-eu")
    provider = tracing.setup_tracing("ingest")
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "ingest-eu"


# --- log lines ------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("translate", "INFO", "json")
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_log_lines_carry_the_article_and_the_trace(json_log: io.StringIO) -> None:
    log = logging.getLogger("translate")
    batch = [Record(b"a1", [("traceparent", parent(TRACE_A).encode())])]
    with tracing.batch_scope(batch), article_context(article_id="a1", version=5, language="en"):
        log.info("translation announced", extra={"engine": "pseudo"})
    log.info("batch done")
    announced, done = (json.loads(line) for line in json_log.getvalue().splitlines())
    assert announced["message"] == "translation announced"
    assert (announced["article_id"], announced["version"], announced["language"]) == ("a1", 5, "en")
    assert announced["trace_id"] == TRACE_A and announced["engine"] == "pseudo"
    assert "trace_id" not in done and "article_id" not in done
