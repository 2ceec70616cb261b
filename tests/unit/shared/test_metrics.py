"""Prometheus metrics: consumer lag from offsets, and the counters the broker middleware keeps."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client.parser import text_string_to_metric_families

from shared.messaging import InvalidMessage, TransientError, make_broker, raw_decoder
from shared.metrics import (
    KafkaLag,
    Lag,
    Partition,
    ServiceMetrics,
    compute_lag,
    subscribed_groups,
)
from shared.service import Runtime, health_router
from shared.settings import ServiceSettings


def samples(metrics: ServiceMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition text, parsed back: (name, labels) -> value."""
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


# --- consumer lag --------------------------------------------------------------------------


def test_lag_is_end_minus_committed_per_group_topic_and_partition() -> None:
    t = "articles.ingested"
    lags = compute_lag(
        groups={"translate": {t}, "feeds": {t, "articles.translated"}},
        partitions={t: [0, 1, 2], "articles.translated": [0]},
        end={
            Partition(t, 0): 10,
            Partition(t, 1): 7,
            Partition(t, 2): 5,
            Partition("articles.translated", 0): 3,
        },
        committed={
            "translate": {Partition(t, 0): 4, Partition(t, 1): 7, Partition(t, 2): -1},
            "feeds": {Partition(t, 0): 10, Partition(t, 1): 9},  # 9 > 7: never negative
        },
        start={Partition(t, 2): 2, Partition("articles.translated", 0): 0},
    )
    assert lags == [
        Lag("feeds", "articles.ingested", 0, 0),
        Lag("feeds", "articles.ingested", 1, 0),
        Lag("feeds", "articles.ingested", 2, 3),  # nothing committed: from the log start (2)
        Lag("feeds", "articles.translated", 0, 3),
        Lag("translate", "articles.ingested", 0, 6),
        Lag("translate", "articles.ingested", 1, 0),
        Lag("translate", "articles.ingested", 2, 3),  # -1: nothing committed either
    ]


def test_a_partition_without_an_end_offset_is_left_out_not_guessed() -> None:
    lags = compute_lag({"g": {"t"}}, {"t": [0, 1]}, {Partition("t", 0): 5}, {}, {})
    assert lags == [Lag("g", "t", 0, 5)]


class FakeAdmin:
    def __init__(self) -> None:
        self.asked: list[tuple[str, list[TopicPartition]]] = []

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        known = {"a": 2, "b": 1}
        return [
            {
                "topic": t,
                "error_code": 0 if t in known else 3,
                "partitions": [{"partition": p} for p in range(known.get(t, 0))],
            }
            for t in topics
        ]

    async def list_consumer_group_offsets(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self.asked.append((group, sorted(partitions)))
        offsets = {"svc": {("a", 0): 3, ("a", 1): -1}, "svc-status": {("b", 0): 1}}[group]
        return {
            tp: OffsetAndMetadata(offsets[(tp.topic, tp.partition)], "")
            for tp in partitions
            if (tp.topic, tp.partition) in offsets
        }


class FakeConsumer:
    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: {("a", 0): 8, ("a", 1): 4, ("b", 0): 6}[(tp.topic, tp.partition)] for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        assert tps == [TopicPartition("a", 1)], "only where the group committed nothing"
        return {tp: 1 for tp in tps}


async def test_kafka_lag_asks_the_broker_for_the_service_groups_only() -> None:
    source = KafkaLag("unused:9092", lambda: {"svc": {"a", "gone"}, "svc-status": {"b"}})
    admin = FakeAdmin()
    source._admin, source._consumer = admin, FakeConsumer()
    lags = await source.lags()
    assert lags == [Lag("svc", "a", 0, 5), Lag("svc", "a", 1, 3), Lag("svc-status", "b", 0, 5)]
    assert admin.asked == [
        ("svc", [TopicPartition("a", 0), TopicPartition("a", 1)]),
        ("svc-status", [TopicPartition("b", 0)]),
    ]


class ListLag:
    def __init__(self, *results: list[Lag] | Exception) -> None:
        self.results = list(results)
        self.calls = 0
        self.closed = 0

    async def lags(self) -> list[Lag]:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def close(self) -> None:
        self.closed += 1


async def test_lag_gauge_is_read_on_scrape_at_most_every_interval() -> None:
    source = ListLag([Lag("svc", "t", 0, 5)], [Lag("svc", "t", 0, 2)])
    metrics = ServiceMetrics("svc", lag=source, lag_min_interval=3600)
    body, content_type = await metrics.exposition()
    assert content_type.startswith("text/plain")
    assert 'syndication_consumer_lag{group="svc",partition="0",topic="t"} 5.0' in body.decode()
    await metrics.exposition()
    assert source.calls == 1  # within the interval: the last reading

    metrics.lag_min_interval = 0
    await metrics.exposition()
    assert value(metrics, "syndication_consumer_lag", group="svc", topic="t", partition="0") == 2


async def test_a_broker_failure_empties_the_lag_gauge_and_metrics_still_answer() -> None:
    source = ListLag([Lag("svc", "t", 0, 5)], ConnectionError("broker down"))
    metrics = ServiceMetrics("svc", lag=source, lag_min_interval=0)
    await metrics.exposition()
    body, _ = await metrics.exposition()
    assert "syndication_consumer_lag{" not in body.decode()
    assert value(metrics, "syndication_consumer_lag_errors_total", service="svc") == 1
    assert source.closed == 1  # clients are opened afresh next time


async def test_a_slow_broker_does_not_hold_up_the_scrape() -> None:
    import asyncio

    class Hanging(ListLag):
        async def lags(self) -> list[Lag]:
            await asyncio.sleep(60)
            return []

    metrics = ServiceMetrics("svc", lag=Hanging(), lag_timeout=0.05)
    async with asyncio.timeout(5):
        await metrics.exposition()
    assert value(metrics, "syndication_consumer_lag_errors_total", service="svc") == 1


# --- the broker middleware -----------------------------------------------------------------


def broker_with_metrics(**settings: Any) -> tuple[Any, Any, ServiceMetrics]:
    metrics = ServiceMetrics("svc")
    broker, policy = make_broker("svc", ServiceSettings(**settings), metrics=metrics)
    return broker, policy, metrics


async def test_processed_failed_and_dead_lettered_messages_are_counted() -> None:
    broker, _, metrics = broker_with_metrics(max_attempts=1)

    @broker.subscriber("in", group_id="svc")
    async def handle(body: dict[str, Any]) -> None:
        if body.get("bad"):
            raise InvalidMessage("bad")
        await broker.publish({"ok": True}, topic="out")

    async with TestKafkaBroker(broker) as br:
        await br.publish({"n": 1}, topic="in")
        await br.publish({"n": 2}, topic="in")
        await br.publish({"bad": True}, topic="in")

    def count(name: str, **labels: str) -> float | None:
        return value(metrics, name, service="svc", topic="in", **labels)

    assert count("syndication_messages_processed_total", outcome="ok") == 2
    assert count("syndication_messages_processed_total", outcome="dead_lettered") == 1
    assert count("syndication_messages_failed_total") == 1
    assert count("syndication_messages_dead_lettered_total") == 1
    assert count("syndication_message_processing_seconds_count") == 3
    published = "syndication_messages_published_total"
    assert value(metrics, published, service="svc", topic="out") == 2
    assert value(metrics, published, service="svc", topic="in.dlq") == 1


async def test_an_outage_counts_as_failed_and_retried_not_dead_lettered() -> None:
    broker, _, metrics = broker_with_metrics(transient_retry_seconds=0.01)

    @broker.subscriber("in", group_id="svc")
    async def handle(body: dict[str, Any]) -> None:
        raise TransientError("database restarting")

    async with TestKafkaBroker(broker) as br:
        with pytest.raises(TransientError):  # the test broker re-raises what was not handled
            await br.publish({"n": 1}, topic="in")

    labels = {"service": "svc", "topic": "in"}
    assert value(metrics, "syndication_messages_processed_total", outcome="retried", **labels) == 1
    assert value(metrics, "syndication_messages_failed_total", **labels) == 1
    assert value(metrics, "syndication_messages_dead_lettered_total", **labels) is None


async def test_batches_are_counted_per_record_with_their_dead_letters() -> None:
    broker, policy, metrics = broker_with_metrics()

    @broker.subscriber("in", group_id="svc", batch=True, decoder=raw_decoder)
    async def handle(bodies: list[Any], message: KafkaMessage) -> None:
        for record in message.raw_message:
            if b"bad" in record.value:  # judged one by one, as ingest and translate do
                await policy.send(record, InvalidMessage("bad"), 1)

    async with TestKafkaBroker(broker) as br:
        await br.publish_batch({"n": 1}, {"bad": 1}, {"n": 3}, {"bad": 2}, topic="in")

    labels = {"service": "svc", "topic": "in"}
    processed = "syndication_messages_processed_total"
    assert value(metrics, processed, outcome="ok", **labels) == 2
    assert value(metrics, processed, outcome="dead_lettered", **labels) == 2
    assert value(metrics, "syndication_messages_dead_lettered_total", **labels) == 2
    assert value(metrics, "syndication_messages_failed_total", **labels) == 2
    assert value(metrics, "syndication_message_processing_seconds_count", **labels) == 1


def test_the_lag_covers_every_group_and_topic_the_service_reads() -> None:
    broker, _, _ = broker_with_metrics()

    @broker.subscriber("articles.submitted", group_id="ingest", batch=True)
    async def a(bodies: list[Any]) -> None: ...

    @broker.subscriber("articles.translated", group_id="ingest-status")
    async def b(body: Any) -> None: ...

    @broker.subscriber("more", group_id="ingest")
    async def c(body: Any) -> None: ...

    assert subscribed_groups(broker) == {
        "ingest": {"articles.submitted", "more"},
        "ingest-status": {"articles.translated"},
    }


# --- the endpoints -------------------------------------------------------------------------


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name})")

    def __getitem__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name})")


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
async def test_metrics_and_healthz_never_touch_the_database(path: str) -> None:
    metrics = ServiceMetrics("svc", lag=ListLag([Lag("svc", "t", 1, 4)]), topics=lambda: {"t"})
    rt = SimpleNamespace(
        name="svc", db=Untouchable(), broker=Untouchable(), metrics=metrics, watch=None
    )
    api = FastAPI()
    api.include_router(health_router(cast(Runtime, rt)))
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        resp = await http.get(path)
    assert resp.status_code == 200
    if path == "/metrics":
        assert resp.headers["content-type"].startswith("text/plain; version=")
        assert 'syndication_consumer_lag{group="svc",partition="1",topic="t"} 4.0' in resp.text
        # What the service reads is there before anything is counted (rate() needs a start).
        zero = 'syndication_messages_processed_total{outcome="retried",service="svc",topic="t"} 0.0'
        assert zero in resp.text
        assert 'syndication_messages_dead_lettered_total{service="svc",topic="t"} 0.0' in resp.text
