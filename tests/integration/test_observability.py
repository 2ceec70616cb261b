"""Operations on the real stack: health, readiness, Prometheus metrics (counters and consumer
lag), JSON log lines naming the article, and one trace from the editor's HTTP request through
ingest, translate and feeds, carried in the records' ``traceparent`` headers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from shared.contracts import Topics
from tests.integration.conftest import System, send

pytestmark = pytest.mark.integration

SERVICES = ("ingest", "translate", "feeds")
GROUPS = {
    "ingest": {"ingest", "ingest-status"},
    "translate": {"translate", "translate-human", "translate-retranslate"},
    "feeds": {"feeds", "feeds-translations"},
}
UNOWNED = "syndication_consumer_partitions_unowned"
PROCESSED = "syndication_messages_processed_total"
LAG = "syndication_consumer_lag"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, system: System, service: str) -> Samples:
    resp = await http.get(system.url(service, "/metrics"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def processed(samples: Samples, service: str, topic: str) -> float:
    key = frozenset({"service": service, "topic": topic, "outcome": "ok"}.items())
    return samples.get((PROCESSED, key), 0.0)


def trace_id(traceparent: str) -> str:
    version, trace, span, _flags = traceparent.split("-")
    assert version == "00" and len(trace) == 32 and len(span) == 16, traceparent
    return trace


Record = ConsumerRecord[Any, Any]


async def records_about(
    bootstrap: str,
    topic: str,
    key: str | Callable[[Record], bool],
    done: Callable[[list[Record]], bool],
) -> list[Record]:
    """The records of ``topic`` with this key (or matching), headers and all, until ``done``."""
    wanted = key if callable(key) else lambda r: r.key == key.encode()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[Record] = []
    try:
        async with asyncio.timeout(60):
            while not done(found):
                batch = await consumer.getmany(timeout_ms=500)
                found += [r for rs in batch.values() for r in rs if wanted(r)]
    finally:
        await consumer.stop()
    return found


def log_lines(system: System, service: str, message: str, article_id: str) -> list[dict[str, Any]]:
    lines = []
    for line in system.logs(service).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == message and entry.get("article_id") == article_id:
            lines.append(entry)
    return lines


async def test_every_service_is_live_ready_and_measured(
    system: System, http: httpx.AsyncClient
) -> None:
    for service in SERVICES:
        live = await http.get(system.url(service, "/healthz"))
        assert live.status_code == 200 and live.json()["status"] == "ok", live.text
        ready = await http.get(system.url(service, "/readyz"))
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}

        samples = await scrape(http, system, service)
        lags = {dict(labels)["group"]: v for (name, labels), v in samples.items() if name == LAG}
        assert set(lags) == GROUPS[service], f"{service}: lag for {set(lags)}"
        for (name, labels), v in samples.items():
            if name == LAG:
                assert v >= 0 and int(dict(labels)["partition"]) in range(3), (labels, v)
        errors = ("syndication_consumer_lag_errors_total", frozenset({("service", service)}))
        assert samples[errors] == 0
        # what the readiness check found, for the ServiceNotReady alert (deploy/monitoring)
        assert samples[("syndication_ready", frozenset({("service", service)}))] == 1


async def test_every_partition_a_service_reads_has_a_consumer(
    system: System, http: httpx.AsyncClient
) -> None:
    """The group watch's gauge, for alerts: 0 once each group has settled."""
    for service in SERVICES:
        async with asyncio.timeout(60):
            while True:
                samples = await scrape(http, system, service)
                unowned = {
                    dict(labels)["group"]: v
                    for (name, labels), v in samples.items()
                    if name == UNOWNED
                }
                if set(unowned) == GROUPS[service] and not any(unowned.values()):
                    break
                await asyncio.sleep(0.5)  # the watch looks every 10 s


async def test_an_article_is_counted_logged_and_traced_from_http_to_the_feeds(
    system: System, http: httpx.AsyncClient
) -> None:
    before = {s: await scrape(http, system, s) for s in SERVICES}
    tag = uuid.uuid4().hex[:8]
    body = {
        "headline": f"گزارش رصد سامانه‌ها {tag}",
        "body_text": "شهرداری مشهد از سامانه تازه رونمایی کرد.\n\nاین سامانه شبانه‌روزی است.",
        "external_id": f"observability-{tag}",
        "subjects": ["culture"],
    }
    resp = await http.post(
        system.url("ingest", "/articles"), json=body, headers=system.auth("mashhad")
    )
    assert resp.status_code in (200, 201, 202), resp.text
    article_id = resp.json()["article_id"]
    trace = trace_id(resp.headers["traceresponse"])  # the server span of the request

    # Counters: each service handled the article's records (translate: 3 languages).
    wanted = {
        ("ingest", Topics.SUBMITTED): 1,
        ("translate", Topics.INGESTED): 1,
        ("feeds", Topics.INGESTED): 1,
        ("feeds", Topics.TRANSLATED): 3,
        ("ingest", Topics.TRANSLATED): 3,
    }
    async with asyncio.timeout(60):
        while True:
            now = {s: await scrape(http, system, s) for s in SERVICES}
            grown = {
                (s, t): processed(now[s], s, t) - processed(before[s], s, t) for s, t in wanted
            }
            if all(grown[k] >= n for k, n in wanted.items()):
                break
            await asyncio.sleep(0.2)  # poll interval while the pipeline works
    for service, topic in wanted:
        timed = frozenset({"service": service, "topic": topic}.items())
        assert now[service][("syndication_message_processing_seconds_count", timed)] >= 1

    # Trace: the request's trace id is in the headers of every record about the article.
    kafka = system.infra.kafka
    submitted = await records_about(kafka, Topics.SUBMITTED, article_id, lambda f: len(f) >= 1)
    ingested = await records_about(kafka, Topics.INGESTED, article_id, lambda f: len(f) >= 1)
    translated = await records_about(kafka, Topics.TRANSLATED, article_id, lambda f: len(f) >= 3)
    for record in (*submitted, *ingested, *translated):
        headers = {k: v.decode() for k, v in record.headers}
        assert trace_id(headers["traceparent"]) == trace, (record.topic, headers)

    # Logs: our lines name the article, its version and the trace (a batch's "Processed" line
    # covers many articles, so only ours do).
    def logged() -> bool:
        return bool(
            log_lines(system, "ingest", "announced", article_id)
            and len(log_lines(system, "translate", "translation announced", article_id)) >= 3
            and len(log_lines(system, "feeds", "entry stored", article_id)) >= 4
        )

    async with asyncio.timeout(30):
        while True:
            if logged():
                break
            await asyncio.sleep(0.2)  # the log files are written as the services go
    for service, message in (
        ("ingest", "announced"),
        ("translate", "translation announced"),
        ("feeds", "entry stored"),
    ):
        for line in log_lines(system, service, message, article_id):
            assert line["version"] == 1, (service, line)
            assert line["trace_id"] == trace, (service, line)
            assert line["service"] == service


async def test_records_from_any_kafka_client_still_flow_and_get_a_trace_of_their_own(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    """A CMS or kcat sends no headers and no key: ingested and counted as ever, and what ingest
    announces for it starts a trace."""
    before = processed(await scrape(http, system, "ingest"), "ingest", Topics.SUBMITTED)
    external_id = f"raw-{uuid.uuid4().hex[:8]}"
    submission = {
        "publisher": "mashhad",
        "headline": f"خبر بدون سرآیند {external_id}",
        "body_text": "متن خبر.",
        "external_id": external_id,
    }
    await send(producer, Topics.SUBMITTED, submission)

    def about(record: Record) -> bool:
        return json.loads(record.value).get("external_id") == external_id

    [ingested] = await records_about(system.infra.kafka, Topics.INGESTED, about, bool)
    trace_id(dict(ingested.headers)["traceparent"].decode())
    async with asyncio.timeout(30):
        while True:
            samples = await scrape(http, system, "ingest")
            if processed(samples, "ingest", Topics.SUBMITTED) > before:
                break
            await asyncio.sleep(0.2)  # counted once the batch is settled
