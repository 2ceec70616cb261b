"""Consumer groups: one topic per group, offsets carried over when a subscriber moves to its own
group, and a watch that every partition a service reads is owned by one of its consumers.

Why one topic per group: members of one group with different subscriptions make every
rebalance of one subscriber a rebalance of the others, and after a broker restart a group of
such members can settle with no member owning one topic's partitions, silently
(docs/reliability.md, "Broker restart"). A group of its own per subscriber keeps each topic's
rebalances to itself; the watch turns any remaining silent stall into a failing ``/healthz``
so an orchestrator restarts the replica (its offsets are committed only after handling, so a
restart loses nothing).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.contracts import Topics

log = logging.getLogger(__name__)


def group_id(service: str, role: str | None = None) -> str:
    """``feeds`` for a service's main subscriber, ``feeds-translations`` for another one."""
    return f"{service}-{role}" if role else service


# Subscribers that used to share their service's group: (new group, topic) -> old group. On
# start-up a new group with no committed offset for the topic takes the old group's, so an
# upgrade neither replays the topic from the beginning nor skips what the old group left.
MOVED: dict[tuple[str, str], str] = {
    (group_id("feeds", "translations"), Topics.TRANSLATED): "feeds",
    (group_id("translate", "human"), Topics.HUMAN_TRANSLATIONS): "translate",
}


def unowned_partitions(
    state: str,
    assignments: Iterable[Mapping[str, Collection[int]]],
    partitions: Mapping[str, Collection[int]],
    topics: Collection[str],
) -> dict[str, list[int]]:
    """The partitions of ``topics`` that no member of a group is consuming: all of them while
    the group is empty, dead or rebalancing; otherwise those in no member's assignment."""
    if state == "Stable":
        owned = {(t, p) for assignment in assignments for t, ps in assignment.items() for p in ps}
    else:
        owned = set()
    missing = {
        topic: sorted(p for p in partitions.get(topic, ()) if (topic, p) not in owned)
        for topic in sorted(topics)
    }
    return {topic: ps for topic, ps in missing.items() if ps}


@dataclass
class GroupWatch:
    """Asks the broker every ``interval`` seconds which of the service's partitions no consumer
    owns; a partition unowned for longer than ``limit`` (``stall_seconds``, longer than a
    rebalance may take, plus up to ``jitter`` of it, drawn once per replica) is a stall. A
    broker that cannot be asked is no stall: restarting would not help, and ``/readyz``
    already reports it.

    Every replica of a service sees the same group, so without the jitter all of them would
    fail their liveness probes at once and restart together (for feeds: no one serving feeds
    meanwhile); with it, the first restart's rebalance usually ends the stall for the rest."""

    bootstrap_servers: str
    groups: Callable[[], Mapping[str, Collection[str]]]
    stall_seconds: float
    jitter: float = 0.5
    interval: float = 10.0
    client_id: str = "group-watch"
    clock: Callable[[], float] = time.monotonic
    since: dict[tuple[str, str, int], float] = field(default_factory=dict)
    on_check: Callable[[Mapping[tuple[str, str], int]], None] | None = None
    _admin: Any = None
    _warned: float = float("-inf")

    def __post_init__(self) -> None:
        self.limit = self.stall_seconds * (1 + random.uniform(0, self.jitter))

    def observe(self, unowned: Mapping[str, Mapping[str, Collection[int]]]) -> None:
        """Record one answer: group -> topic -> partitions unowned now."""
        now = self.clock()
        current = {
            (group, topic, p)
            for group, topics in unowned.items()
            for topic, ps in topics.items()
            for p in ps
        }
        self.since = {key: self.since.get(key, now) for key in current}
        if self.on_check is not None:
            counts = {
                (group, topic): 0 for group, topics in self.groups().items() for topic in topics
            }
            for group, topic, _ in current:
                counts[(group, topic)] = counts.get((group, topic), 0) + 1
            self.on_check(counts)

    def stalled(self) -> list[str]:
        """``group/topic/partition`` for each partition unowned for too long, oldest first."""
        now = self.clock()
        late = [(t, key) for key, t in self.since.items() if now - t > self.limit]
        return [f"{g}/{topic}/{p}" for _, (g, topic, p) in sorted(late)]

    async def check(self) -> dict[str, dict[str, list[int]]]:
        """group -> topic -> partitions that no member of the group owns now."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

        groups = self.groups()
        if not groups:
            return {}
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                request_timeout_ms=5000,
            )
            await admin.start()
            self._admin = admin
        topics = sorted({t for ts in groups.values() for t in ts})
        partitions = {
            t["topic"]: [p["partition"] for p in t["partitions"]]
            for t in await self._admin.describe_topics(topics)
            if not t["error_code"]
        }
        found: dict[str, dict[str, list[int]]] = {}
        # One group per request: aiokafka 0.14 fails to decode Kafka 4's answer about several.
        responses = [
            response
            for name in sorted(groups)
            for response in await self._admin.describe_consumer_groups([name])
        ]
        for response in responses:
            # each group: error_code, group_id, state, protocol_type, protocol, members, ...
            for group in response.groups:
                name, state, members = group[1], group[2], group[5]
                assignments = [
                    dict(ConsumerProtocolMemberAssignment.decode(member[4]).assignment)
                    for member in members
                    if member[4]  # empty while the member waits for its assignment
                ]
                missing = unowned_partitions(state, assignments, partitions, groups.get(name, ()))
                if missing:
                    found[name] = missing
        return found

    async def run(self) -> None:
        """Check until cancelled."""
        while True:
            await self.step()
            await asyncio.sleep(self.interval)

    async def step(self) -> None:
        """One check; a broker that cannot be asked ends every gap seen so far (a long broker
        outage is no stall: restarting would not help), and a gap counts from the next answer."""
        try:
            self.observe(await asyncio.wait_for(self.check(), 10.0))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker down or restarting: nothing to conclude
            self.since = {}
            if self.clock() - self._warned > 300:  # while it lasts, every 5 minutes
                self._warned = self.clock()
                log.warning("consumer group check failed", extra={"error": repr(exc)})
            await self.close()

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await asyncio.wait_for(admin.close(), 5.0)
            except Exception:
                log.debug("closing the group watch's admin client failed", exc_info=True)


async def adopt_offsets(
    bootstrap_servers: str,
    groups: Mapping[str, Collection[str]],
    moved: Mapping[tuple[str, str], str] = MOVED,
    patience: float = 60.0,
) -> dict[str, int]:
    """:func:`adopt_offsets_once`, tried again while the broker answers with a retriable error
    (a fresh broker has no group coordinator until its offsets topic exists)."""
    from aiokafka.errors import KafkaError

    async with asyncio.timeout(patience):
        while True:
            try:
                return await adopt_offsets_once(bootstrap_servers, groups, moved)
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                log.info("consumer group offsets: broker not ready", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)


async def adopt_offsets_once(
    bootstrap_servers: str,
    groups: Mapping[str, Collection[str]],
    moved: Mapping[tuple[str, str], str] = MOVED,
) -> dict[str, int]:
    """For each subscribed (group, topic) in ``moved`` whose group has committed nothing on the
    topic, commit the old group's offsets to it; returns group -> partitions adopted. Several
    replicas starting at once commit the same offsets; once the new group has members, the
    broker refuses the commit and the group's own offsets stand."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import OffsetAndMetadata

    wanted = [(g, t, old) for (g, t), old in moved.items() if t in groups.get(g, ())]
    if not wanted:
        return {}
    adopted: dict[str, int] = {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="adopt-offsets")
    await admin.start()
    try:
        for group, topic, old in wanted:
            (described,) = await admin.describe_topics([topic])
            tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
            mine = await admin.list_consumer_group_offsets(group, partitions=tps)
            if any(o.offset >= 0 for o in mine.values()):
                continue
            theirs = await admin.list_consumer_group_offsets(old, partitions=tps)
            offsets = {
                tp: OffsetAndMetadata(o.offset, f"adopted from {old}")
                for tp, o in theirs.items()
                if o.offset >= 0
            }
            if not offsets:
                continue
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers,
                group_id=group,
                enable_auto_commit=False,
                client_id="adopt-offsets",
            )
            await consumer.start()
            try:
                consumer.assign(list(offsets))
                await consumer.commit(offsets)
                adopted[group] = len(offsets)
                log.info(
                    "consumer group offsets adopted",
                    extra={"group": group, "topic": topic, "from": old, "partitions": len(offsets)},
                )
            except Exception as exc:  # the group is already active: its own offsets stand
                log.info(
                    "consumer group offsets not adopted",
                    extra={"group": group, "topic": topic, "error": repr(exc)},
                )
            finally:
                await consumer.stop()
    finally:
        await admin.close()
    return adopted
