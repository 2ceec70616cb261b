"""Faults of a three-broker cluster while articles flow through two replicas of each service:
the leader of a busy partition and then the active controller killed, every broker restarted in
turn, every service rolled out, a group's coordinator down past the consumers' session timeout.
After each fault, every article sent before it is in every language feed exactly once and every
partition of every group has a consumer; at the end, every article at its latest version.

``make test-cluster`` runs it three times in a row; ``CLUSTER_REPORT=file`` appends a JSON line
per run with what was injected and what was found (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local import stack
from shared.contracts import Topics
from tests.cluster.conftest import (
    BROKERS,
    PACE,
    Clustered,
    active_controller,
    coordinator,
    healed,
    leaders,
)
from tests.support.faults import (
    LANGUAGES,
    Stream,
    append_line,
    caught_up,
    unowned_after_recovery,
)

pytestmark = [pytest.mark.cluster, pytest.mark.long]  # make test-cluster

#: The consumers' session timeout: aiokafka's default (10 s), which the services keep.
SESSION_TIMEOUT = 10
Fault = Callable[[], Awaitable[dict[str, float]]]


async def busiest_leader(bootstrap: str, topic: str) -> tuple[int, int]:
    """The partition of ``topic`` holding the most records, and the node leading it."""
    led = await leaders(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in led])
    finally:
        await consumer.stop()
    partition = max(ends, key=lambda tp: ends[tp]).partition
    return partition, led[partition]


async def restart_node(clustered: Clustered, node: stack.Kafka) -> None:
    """Start a stopped node again and wait until every partition is fully replicated."""
    await asyncio.to_thread(node.start, 120, BROKERS)
    await healed(clustered.cluster)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 120) -> float:
    """Seconds until ``check`` holds."""
    at = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                break
            await asyncio.sleep(0.2)  # poll interval while the cluster reacts
    return round(time.monotonic() - at, 1)


def kill_busy_leader(clustered: Clustered) -> Fault:
    async def fault() -> dict[str, float]:
        bootstrap = clustered.cluster.bootstrap
        partition, leader = await busiest_leader(bootstrap, Topics.SUBMITTED)
        node = clustered.cluster.node(leader)
        node.process.stop(timeout=5, sig=signal.SIGKILL)

        async def moved() -> bool:
            try:
                now = (await leaders(bootstrap, Topics.SUBMITTED)).get(partition, -1)
            except Exception:  # the dead node was the one asked: ask again
                return False
            return now not in (-1, leader)

        elected = await until(moved)
        await restart_node(clustered, node)
        return {"node": leader, "new_leader_s": elected}

    return fault


def kill_controller(clustered: Clustered) -> Fault:
    async def fault() -> dict[str, float]:
        cluster = clustered.cluster
        active = active_controller(cluster)
        node = cluster.node(active)
        node.process.stop(timeout=5, sig=signal.SIGKILL)

        async def moved() -> bool:
            try:
                return active_controller(cluster) != active
            except (RuntimeError, ValueError):  # no leader yet, or a state file half written
                return False

        elected = await until(moved)
        await restart_node(clustered, node)
        return {"node": active, "new_controller_s": elected}

    return fault


def roll_brokers(clustered: Clustered) -> Fault:
    """Each broker stopped (SIGTERM: a controlled shutdown moves its leaders first), started,
    and the cluster healed before the next, as a StatefulSet's rolling update does."""

    async def fault() -> dict[str, float]:
        for node in clustered.cluster.nodes:
            await asyncio.to_thread(node.process.stop, 60, signal.SIGTERM)
            await restart_node(clustered, node)
        return {"brokers": len(clustered.cluster.nodes)}

    return fault


def roll_services(clustered: Clustered) -> Fault:
    async def fault() -> dict[str, float]:
        replaced = 0
        for service in stack.SERVICES:
            replaced += len(clustered.fleet.of(service))
            await asyncio.to_thread(clustered.fleet.roll, service)
        return {"replicas": replaced}

    return fault


def coordinator_down(clustered: Clustered) -> Fault:
    """The node coordinating translate's group killed and kept down longer than the consumers'
    session timeout: the groups find their new coordinators, and the node returns."""

    async def fault() -> dict[str, float]:
        node = clustered.cluster.node(await coordinator(clustered.cluster.bootstrap, "translate"))
        node.process.stop(timeout=5, sig=signal.SIGKILL)
        await asyncio.sleep(SESSION_TIMEOUT + 5)  # the fault is the time it lasts
        await restart_node(clustered, node)
        return {"node": node.node_id, "down_s": SESSION_TIMEOUT + 5}

    return fault


@pytest.mark.timeout(1800)
async def test_cluster_faults_lose_and_duplicate_nothing(
    clustered: Clustered, http: httpx.AsyncClient
) -> None:
    cluster = clustered.cluster
    faults: list[tuple[str, Fault]] = [
        ("kill -9 the leader of the busiest partition, restart", kill_busy_leader(clustered)),
        ("kill -9 the active controller, restart", kill_controller(clustered)),
        ("rolling restart of every broker", roll_brokers(clustered)),
        ("rolling restart of every service's replicas", roll_services(clustered)),
        ("translate's coordinator down past the session timeout", coordinator_down(clustered)),
    ]
    stream = Stream(cluster.bootstrap, pace=PACE)
    sending = asyncio.create_task(stream.send_all())
    injected: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for name, fault in faults:
            await stream.reached(stream.sent + 5)
            at = time.monotonic()
            found = await fault()
            sent = stream.sent
            recovered = round(time.monotonic() - at, 1)
            after = (await caught_up(http, clustered.fleet.url("feeds"), stream, sent)).summary()
            unowned = await unowned_after_recovery(cluster.bootstrap)
            injected.append(
                {"fault": name, "sent": sent, "recovery_s": recovered, **found, **after,
                 "unowned_partitions": unowned}
            )  # fmt: skip
            print(f"\n[cluster] {injected[-1]}", flush=True)
            assert after["missing"] == after["duplicated"] == 0, injected[-1]
            assert unowned == {}, injected[-1]
        stream.faults_over.set()
        await sending
    finally:
        sending.cancel()

    final = await caught_up(http, clustered.fleet.url("feeds"), stream, stream.sent, final=True)
    report = {
        "run": stream.run,
        "brokers": len(cluster.nodes),
        "replicas_per_service": 2,
        "articles": stream.sent,
        "corrections": len(stream.corrected()),
        "send_retries": stream.retried,
        "faults": injected,
        "seconds": round(time.monotonic() - started, 1),
        # not in the feed at its latest version (an older version counts as lost)
        "lost": final.missing(),
        "duplicated": final.duplicated(),
        "final_caught_up_s": final.seconds,
    }
    if path := os.environ.get("CLUSTER_REPORT"):
        await asyncio.to_thread(append_line, Path(path), json.dumps(report, ensure_ascii=False))
    print("\n" + json.dumps(report, ensure_ascii=False, indent=1))
    for lang in LANGUAGES:
        assert sorted(final.found[lang]) == final.want[lang], (lang, report)
