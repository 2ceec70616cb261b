"""Consumer groups on the real broker: the watch sees a group that consumes nothing, and a
subscriber moved to a group of its own carries on from where its old group was."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import OffsetAndMetadata

from shared.groups import GroupWatch, adopt_offsets
from tests.conftest import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(infra: Infra) -> AsyncIterator[str]:
    """A fresh topic with two partitions and three records in partition 0."""
    name = f"groups-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(name, f"{i}".encode(), partition=0)
    finally:
        await producer.stop()
    yield name


async def joined(bootstrap: str, group: str, topic: str) -> AIOKafkaConsumer:
    """A consumer of ``topic`` in ``group`` that holds its partitions."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    while not consumer.assignment():  # each getmany takes part in the join
        await consumer.getmany(timeout_ms=200)
    return consumer


async def answer(watch: GroupWatch) -> dict[str, dict[str, list[int]]]:
    """The watch's answer once the broker can give one (a fresh broker has no group
    coordinator until its offsets topic exists)."""
    async with asyncio.timeout(30):
        while True:
            try:
                return await watch.check()
            except GroupCoordinatorNotAvailableError:
                await asyncio.sleep(0.2)


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp.partition: o.offset for tp, o in offsets.items()}


async def commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    """``group`` has consumed partition 0 of ``topic`` up to ``offset`` (and left)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_the_watch_reports_partitions_once_their_group_has_no_consumer(
    infra: Infra, topic: str
) -> None:
    group, idle = f"watched-{uuid.uuid4().hex[:8]}", f"idle-{uuid.uuid4().hex[:8]}"
    watch = GroupWatch(infra.kafka, lambda: {group: {topic}, idle: {topic}}, stall_seconds=0)
    nobody = {group: {topic: [0, 1]}, idle: {topic: [0, 1]}}
    try:
        assert await answer(watch) == nobody, "nobody has joined yet"
        consumer = await joined(infra.kafka, group, topic)
        try:
            assert await answer(watch) == {idle: {topic: [0, 1]}}
        finally:
            await consumer.stop()  # leaves the group: nothing consumes the topic any more
        assert await answer(watch) == nobody
    finally:
        await watch.close()


async def test_a_moved_subscriber_starts_where_its_old_group_stopped(
    infra: Infra, topic: str
) -> None:
    old, new = f"old-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    await commit(infra.kafka, old, topic, 2)

    moved = {(new, topic): old}
    assert await adopt_offsets(infra.kafka, {new: {topic}}, moved) == {new: 1}
    assert (await committed(infra.kafka, new, topic))[0] == 2

    successor = await joined(infra.kafka, new, topic)
    try:
        records = await successor.getmany(TopicPartition(topic, 0), timeout_ms=5000)
        values = [r.value for batch in records.values() for r in batch]
        assert values == [b"2"], "the third record only: nothing replayed, nothing skipped"
        assert await adopt_offsets(infra.kafka, {new: {topic}}, moved) == {}, "adopted once"
    finally:
        await successor.stop()


async def test_an_active_group_keeps_its_own_position(infra: Infra, topic: str) -> None:
    """A replica of the new version already consuming: a late replica adopts nothing."""
    old, new = f"old-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    await commit(infra.kafka, old, topic, 1)
    active = await joined(infra.kafka, new, topic)
    try:
        assert await adopt_offsets(infra.kafka, {new: {topic}}, {(new, topic): old}) == {}
        assert (await committed(infra.kafka, new, topic))[0] == -1
    finally:
        await active.stop()
