"""A service's runtime on FastStream's in-memory ``TestKafkaBroker`` and an in-memory database.

For fast unit tests of the consumers' planning: the service's own ``register()`` subscribes its
handlers to a real broker object (with the dead-letter policy), which ``TestKafkaBroker`` then
drives without a Kafka server; the stores run on :class:`tests.support.memory_db.MemoryDatabase`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka import testing as kafka_testing

from shared.contracts import DeadLetter, Topics
from shared.messaging import make_broker
from shared.registry import Registry
from shared.service import Runtime
from shared.settings import ServiceSettings
from tests.support.memory_db import MemoryDatabase


@dataclass
class KafkaLog:
    """Numbers records as a partition's log does. ``TestKafkaBroker`` gives every record offset
    0, but ingest recognises a redelivered record by its offset: set ``next`` back to deliver
    records again at the offsets they had."""

    next: int = 0

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def number_offsets(monkeypatch: pytest.MonkeyPatch) -> KafkaLog:
    """Make ``TestKafkaBroker`` give the records it delivers a log's offsets (for this test)."""
    log = KafkaLog()
    build_record, build_message = kafka_testing._build_record, kafka_testing.build_message

    def numbered_record(*args: Any, **kwargs: Any) -> ConsumerRecord[bytes, bytes]:
        record: ConsumerRecord[bytes, bytes] = build_record(*args, **kwargs)
        record.offset = log.take()
        return record

    async def numbered_message(*args: Any, **kwargs: Any) -> ConsumerRecord[bytes, bytes]:
        record: ConsumerRecord[bytes, bytes] = await build_message(*args, **kwargs)
        record.offset = log.take()
        return record

    monkeypatch.setattr(kafka_testing, "_build_record", numbered_record)
    monkeypatch.setattr(kafka_testing, "build_message", numbered_message)
    return log


@dataclass
class Watched:
    """What a service published, as a downstream consumer would read it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def reasons(self) -> list[str]:
        return [d.reason for d in self.dead_letters]


def runtime(name: str, settings: ServiceSettings, db: MemoryDatabase) -> Runtime:
    """The service's runtime, as :func:`shared.service.build_runtime` makes it, less the
    connections: the broker is for ``TestKafkaBroker``, the database is in memory."""
    broker, policy = make_broker(name, settings)
    return Runtime(
        name=name,
        settings=settings,
        broker=broker,
        dead_letters=policy,
        client=None,  # type: ignore[arg-type]  # nothing in the consumers uses the client
        db=db,  # type: ignore[arg-type]
        registry=Registry(db),  # type: ignore[arg-type]
        log=logging.getLogger(name),
    )


def watch_topics(broker: KafkaBroker, out_topic: str, in_topic: str) -> Watched:
    """Subscribe, in groups of their own, to what the service publishes and dead-letters."""
    watched = Watched()

    @broker.subscriber(out_topic, group_id="test-watch")
    async def on_event(event: dict[str, Any]) -> None:
        watched.events.append(event)

    @broker.subscriber(Topics.dlq(in_topic), group_id="test-watch")
    async def on_dead_letter(letter: DeadLetter) -> None:
        watched.dead_letters.append(letter)

    return watched


def register_publishers(db: MemoryDatabase, *docs: dict[str, Any]) -> None:
    """Registry documents (``_id`` is the publisher's id), as ``tools.registry load`` stores
    them."""
    for doc in docs:
        db["publishers"].docs[doc["_id"]] = doc
