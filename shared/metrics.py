"""Prometheus metrics: what each service consumed, how it went, and how far behind it is.

Every process has one :class:`ServiceMetrics` with its own registry (not the global default, so
tests can build several services in one process), served at ``GET /metrics``:

``syndication_messages_processed_total{service,topic,outcome}``
    Records handled, each counted once per delivery: ``ok``; ``dead_lettered`` (sent to
    ``<topic>.dlq``, the offset committed); ``retried`` (the handler failed on an outage: the
    offset is not committed and the record will come again). Records of a batch count one by one.
``syndication_messages_failed_total{service,topic}``
    Records whose handling failed: dead-lettered or left to be retried.
``syndication_messages_dead_lettered_total{service,topic}``
    Records sent to the dead-letter topic (``topic`` is the source topic), by the dead-letter
    policy or by a batch consumer judging records one by one.
``syndication_message_processing_seconds{service,topic}``
    Handler time per delivery: one message, or one whole batch for batch consumers.
``syndication_messages_published_total{service,topic}``
    Records published.
``syndication_consumer_lag{group,topic,partition}``
    Log end offset minus the group's committed offset (the log start offset when the group has
    committed nothing there), for each consumer group of the service and each partition of the
    topics it reads; computed from the broker when ``/metrics`` is scraped, at most every
    ``min_interval`` seconds, with a time limit. A failure leaves the gauge empty and counts
    ``syndication_consumer_lag_errors_total``; ``/metrics`` itself still answers.
``syndication_ready{service}``
    1 when the last readiness check (``/readyz``, which the orchestrator probes every few
    seconds) reached the broker and the database, 0 when it did not.
``syndication_consumer_partitions_unowned{group,topic}``
    Partitions of a topic the service reads that no member of its group is consuming (the group
    is empty, rebalancing, or settled without them), as the group watch last saw them
    (:mod:`shared.groups`); ``/healthz`` fails once one stays unowned too long.

The feeds service's own WebSub hub adds (:func:`websub_deliveries`):

``syndication_websub_deliveries_total{result}``
    Content deliveries to subscribers' callbacks: ``delivered`` (2xx), ``gone`` (410: the
    subscription ends) or ``failed`` (any other answer, a timeout, a refused address; retried
    later with backoff).

The translate service adds (:class:`TranslationMetrics`, docs/review.md):

``syndication_translations_published_automatically_total{policy}``
    Machine translations that went out without an editor, by the publisher's policy.
``syndication_translations_held_total{policy}``
    Machine translations held for an editor (a failed check under ``hold``; all under
    ``review``).
``syndication_translations_reviewed_total{action}``
    Translations an editor settled: ``approved`` unchanged, or ``edited``.
``syndication_translation_check_failures_total{check}``
    Automatic checks failed, one per failure (``numbers``, ``script``, ...).
``syndication_translation_held_seconds{action}``
    From a translation's hold to an editor approving or editing it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from faststream._internal.context.repository import ContextRepo
from faststream.message import StreamMessage
from faststream.middlewares import BaseMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

log = logging.getLogger(__name__)
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series (process-wide)

PREFIX = "syndication"
OK, DEAD_LETTERED, RETRIED = "ok", "dead_lettered", "retried"
# Translation batches take seconds to minutes; a feed entry takes milliseconds.
PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Partition(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    lag: int


def compute_lag(
    groups: Mapping[str, Collection[str]],
    partitions: Mapping[str, Sequence[int]],
    end: Mapping[Partition, int],
    committed: Mapping[str, Mapping[Partition, int]],
    start: Mapping[Partition, int],
) -> list[Lag]:
    """Lag per (group, topic, partition) from offsets, never negative.

    ``committed[group]`` lacks a partition (or has -1) where the group has committed nothing:
    it would start at the log start offset (``auto_offset_reset="earliest"``). A partition whose
    end offset is unknown is left out rather than guessed.
    """
    lags = []
    for group in sorted(groups):
        done = committed.get(group, {})
        for topic in sorted(groups[group]):
            for p in sorted(partitions.get(topic, ())):
                tp = Partition(topic, p)
                if tp not in end:
                    continue
                offset = done.get(tp, -1)
                if offset < 0:
                    offset = start.get(tp, 0)
                lags.append(Lag(group, topic, p, max(0, end[tp] - offset)))
    return lags


class LagSource(Protocol):
    async def lags(self) -> list[Lag]: ...

    async def close(self) -> None: ...


def subscribed_groups(broker: Any) -> dict[str, set[str]]:
    """Consumer group -> topics, from a FastStream Kafka broker's subscribers."""
    groups: dict[str, set[str]] = collections.defaultdict(set)
    for sub in broker.subscribers:
        group = getattr(sub, "group_id", None)
        topics = getattr(sub, "topic_names_for_subscribe", None)
        if group and topics:
            groups[group].update(topics)
    return dict(groups)


class KafkaLag:
    """Offsets from the broker: one admin client (metadata, the groups' committed offsets) and
    one group-less consumer (log start and end offsets), opened on first use and kept."""

    def __init__(
        self,
        bootstrap_servers: str,
        groups: Callable[[], Mapping[str, Collection[str]]],
        client_id: str = "metrics",
        request_timeout_ms: int = 5000,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.groups = groups
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self._admin: Any = None
        self._consumer: Any = None

    async def _clients(self) -> tuple[Any, Any]:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                request_timeout_ms=self.request_timeout_ms,
            )
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=self.request_timeout_ms,
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def lags(self) -> list[Lag]:
        from aiokafka import TopicPartition

        groups = self.groups()
        topics = sorted({t for ts in groups.values() for t in ts})
        if not topics:
            return []
        admin, consumer = await self._clients()
        partitions = {
            t["topic"]: [p["partition"] for p in t["partitions"]]
            for t in await admin.describe_topics(topics)
            if not t["error_code"]
        }
        tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
        if not tps:
            return []
        end = {Partition(*tp): off for tp, off in (await consumer.end_offsets(tps)).items()}
        committed: dict[str, dict[Partition, int]] = {}
        for group, group_topics in groups.items():
            mine = [tp for tp in tps if tp.topic in group_topics]
            offsets = await admin.list_consumer_group_offsets(group, partitions=mine)
            committed[group] = {Partition(*tp): o.offset for tp, o in offsets.items()}
        never = {
            TopicPartition(*tp)
            for group, group_topics in groups.items()
            for tp in end
            if tp.topic in group_topics and committed[group].get(tp, -1) < 0
        }
        start: dict[Partition, int] = {}
        if never:
            start = {
                Partition(*tp): off
                for tp, off in (await consumer.beginning_offsets(sorted(never))).items()
            }
        return compute_lag(groups, partitions, end, committed, start)

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (consumer, admin):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.stop() if client is consumer else client.close(), 5.0)
            except Exception:
                log.debug("closing a metrics Kafka client failed", exc_info=True)


@dataclass
class _Delivery:
    """One message or batch being handled: how many records per topic, and what became of them."""

    metrics: ServiceMetrics
    records: collections.Counter[str]
    dead_lettered: collections.Counter[str] = field(default_factory=collections.Counter)
    error: BaseException | None = None


_delivery: ContextVar[_Delivery | None] = ContextVar("delivery", default=None)


class ServiceMetrics:
    """The metrics of one service process; also the FastStream broker middleware that counts
    (pass the instance in ``KafkaBroker(middlewares=[...])``, outside the dead-letter policy)."""

    def __init__(
        self,
        service: str,
        *,
        registry: CollectorRegistry | None = None,
        lag: LagSource | None = None,
        topics: Callable[[], Collection[str]] | None = None,
        lag_timeout: float = 3.0,
        lag_min_interval: float = 5.0,
    ) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        self.lag_source = lag
        self.topics = topics  # what the service consumes: its series are there from the start
        self.lag_timeout = lag_timeout
        self.lag_min_interval = lag_min_interval
        r = self.registry
        self.processed = Counter(
            f"{PREFIX}_messages_processed",
            "Records handled per delivery, by outcome: ok, dead_lettered, retried.",
            ["service", "topic", "outcome"],
            registry=r,
        )
        self.failed = Counter(
            f"{PREFIX}_messages_failed",
            "Records whose handling failed (dead-lettered or to be retried).",
            ["service", "topic"],
            registry=r,
        )
        self.dead_lettered = Counter(
            f"{PREFIX}_messages_dead_lettered",
            "Records sent to the dead-letter topic, by source topic.",
            ["service", "topic"],
            registry=r,
        )
        self.published = Counter(
            f"{PREFIX}_messages_published",
            "Records published, by topic.",
            ["service", "topic"],
            registry=r,
        )
        self.processing = Histogram(
            f"{PREFIX}_message_processing_seconds",
            "Handler time per delivery (one message, or one batch for batch consumers).",
            ["service", "topic"],
            buckets=PROCESSING_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            f"{PREFIX}_consumer_lag",
            "Log end offset minus the consumer group's committed offset.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.unowned = Gauge(
            f"{PREFIX}_consumer_partitions_unowned",
            "Partitions of a topic the service reads that no consumer of its group owns.",
            ["group", "topic"],
            registry=r,
        )
        self.lag_errors = Counter(
            f"{PREFIX}_consumer_lag_errors",
            "Failures to read offsets from the broker for the consumer lag.",
            ["service"],
            registry=r,
        )
        self.lag_errors.labels(service)  # present (at 0) from the start
        self.http_refused = Counter(
            f"{PREFIX}_http_requests_rate_limited",
            "HTTP requests refused with 429 by the per-client rate limit.",
            ["service"],
            registry=r,
        )
        self.http_refused.labels(service)
        self.ready = Gauge(
            f"{PREFIX}_ready",
            "1 when the last readiness check reached the broker and the database, else 0.",
            ["service"],
            registry=r,
        )
        self._lag_at = float("-inf")
        self._lag_lock = asyncio.Lock()
        self._lag_logged = float("-inf")
        self._closed = False

    # --- FastStream middleware --------------------------------------------------------------

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _MetricsMiddleware:
        return _MetricsMiddleware(msg, context=context, metrics=self)

    def record_dead_letter(self, record: Any) -> None:
        """Called by the dead-letter policy for each record it sends to a DLQ."""
        topic = str(record.topic)
        self.dead_lettered.labels(self.service, topic).inc()
        delivery = _delivery.get()
        if delivery is not None and delivery.metrics is self:
            delivery.dead_lettered[topic] += 1

    def settle(self, delivery: _Delivery, exc: BaseException | None) -> None:
        """Count the records of a finished delivery; ``exc`` is the error left unhandled."""
        if exc is not None and not isinstance(exc, Exception):
            return  # cancelled (shutdown): the records come again, nothing happened to them
        for topic, n in delivery.records.items():
            dead = min(delivery.dead_lettered[topic], n)
            rest = n - dead
            outcome = OK if exc is None else RETRIED
            if rest:
                self.processed.labels(self.service, topic, outcome).inc(rest)
            if dead:
                self.processed.labels(self.service, topic, DEAD_LETTERED).inc(dead)
            failed = dead + (rest if outcome == RETRIED else 0)
            if failed:
                self.failed.labels(self.service, topic).inc(failed)

    def record_unowned(self, counts: Mapping[tuple[str, str], int]) -> None:
        """The group watch's latest answer: (group, topic) -> partitions no consumer owns."""
        for (group, topic), n in counts.items():
            self.unowned.labels(group, topic).set(n)

    # --- consumer lag -----------------------------------------------------------------------

    async def refresh_lag(self) -> None:
        """Read the lag from the broker unless it was read less than ``lag_min_interval`` ago.
        Never raises: a failure empties the gauge and is counted."""
        if self.lag_source is None or self._closed:
            return
        async with self._lag_lock:
            now = time.monotonic()
            if now - self._lag_at < self.lag_min_interval:
                return
            self._lag_at = now
            try:
                lags = await asyncio.wait_for(self.lag_source.lags(), self.lag_timeout)
            except Exception as exc:
                self.lag.clear()
                self.lag_errors.labels(self.service).inc()
                if now - self._lag_logged > 60:
                    self._lag_logged = now
                    log.warning("consumer lag unavailable", extra={"error": repr(exc)})
                await self.lag_source.close()  # start afresh next time
                return
            self.lag.clear()
            for lag in lags:
                self.lag.labels(lag.group, lag.topic, str(lag.partition)).set(lag.lag)

    async def close(self) -> None:
        """At shutdown: close the broker clients; the lag is no longer read."""
        self._closed = True
        if self.lag_source is not None:
            async with self._lag_lock:
                await self.lag_source.close()

    # --- exposition -------------------------------------------------------------------------

    async def exposition(self) -> tuple[bytes, str]:
        """The text exposition format, and its content type."""
        await self.refresh_lag()
        for topic in self.topics() if self.topics is not None else ():
            for outcome in (OK, DEAD_LETTERED, RETRIED):  # at 0 until counted: rate() works
                self.processed.labels(self.service, topic, outcome)
            self.failed.labels(self.service, topic)
            self.dead_lettered.labels(self.service, topic)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _MetricsMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, metrics: ServiceMetrics) -> None:
        super().__init__(msg, context=context)
        self.metrics = metrics
        self.delivery: _Delivery | None = None
        self.token: Token[_Delivery | None] | None = None

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        raw = msg.raw_message
        records = raw if isinstance(raw, tuple | list) else (raw,)
        topics = collections.Counter(str(r.topic) for r in records)
        # Left set until after_processed: the dead-letter policy's after_processed, which runs
        # before ours, reports the records it dead-letters to this delivery.
        self.delivery = _Delivery(self.metrics, topics)
        self.token = _delivery.set(self.delivery)
        started = time.perf_counter()
        try:
            return await call_next(msg)
        except BaseException as exc:
            self.delivery.error = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            for topic in topics:
                self.metrics.processing.labels(self.metrics.service, topic).observe(elapsed)

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        if self.delivery is not None:
            if self.token is not None:
                try:
                    _delivery.reset(self.token)
                except ValueError:  # not the context it was set in: nothing to undo there
                    pass
            self.metrics.settle(self.delivery, exc_val)
        return False

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        result = await call_next(cmd)
        n = len(getattr(cmd, "batch_bodies", ()) or ()) or 1
        self.metrics.published.labels(self.metrics.service, str(cmd.destination)).inc(n)
        return result


#: From held to settled by an editor: minutes to days.
HELD_BUCKETS = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
)


def activitypub_deliveries(registry: CollectorRegistry) -> Counter:
    """The fediverse actors' deliveries to followers' inboxes by result, each at 0 from the
    start: delivered; refused (a 4xx: the server will not take it), failed (retried) and
    given-up (out of retries)."""
    return _by_result(
        registry,
        "activitypub_deliveries",
        "ActivityPub deliveries to followers' inboxes: delivered, refused, failed, given-up.",
        ("delivered", "refused", "failed", "given-up"),
    )


def websub_deliveries(registry: CollectorRegistry) -> Counter:
    """The WebSub hub's deliveries by result, each result at 0 from the start."""
    return _by_result(
        registry,
        "websub_deliveries",
        "WebSub content deliveries to subscribers' callbacks: delivered, gone or failed.",
        ("delivered", "gone", "failed"),
    )


def _by_result(
    registry: CollectorRegistry, name: str, documentation: str, results: tuple[str, ...]
) -> Counter:
    """A counter by ``result``, each result exported at 0 from the start (so a rate of
    failures over all is defined before the first failure)."""
    counter = Counter(f"{PREFIX}_{name}", documentation, ["result"], registry=registry)
    for result in results:
        counter.labels(result)
    return counter


class TranslationMetrics:
    """What the publishing policy did with machine translations (the translate service), in
    the service's registry (:attr:`ServiceMetrics.registry`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            f"{PREFIX}_translations_published_automatically",
            "Machine translations published without an editor, by the publisher's policy.",
            ["policy"],
            registry=registry,
        )
        self.held = Counter(
            f"{PREFIX}_translations_held",
            "Machine translations held for an editor, by the publisher's policy.",
            ["policy"],
            registry=registry,
        )
        self.reviewed = Counter(
            f"{PREFIX}_translations_reviewed",
            "Translations settled by an editor: approved (unchanged) or edited.",
            ["action"],
            registry=registry,
        )
        self.check_failures = Counter(
            f"{PREFIX}_translation_check_failures",
            "Automatic checks failed by machine translations, by check.",
            ["check"],
            registry=registry,
        )
        self.held_seconds = Histogram(
            f"{PREFIX}_translation_held_seconds",
            "Time from a translation's hold to an editor settling it, by action.",
            ["action"],
            buckets=HELD_BUCKETS,
            registry=registry,
        )
        for policy in ("publish", "hold", "review"):  # at 0 from the start: rate() works
            self.published.labels(policy)
            self.held.labels(policy)
        for action in ("approved", "edited"):
            self.reviewed.labels(action)
