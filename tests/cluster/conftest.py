"""A three-broker Kafka cluster (KRaft, combined nodes, topics replicated three times with
``min.insync.replicas=2``), FerretDB, and two replicas of each service, for the tests that
break brokers and roll services out: ``make test-cluster`` runs them all; ``make test`` only the
quick one (fewer brokers up than ``min.insync.replicas``), the others being marked ``long``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from deploy.local import stack
from tests.conftest import Infra
from tests.integration.conftest import System, ready, started_system

BROKERS = 3
REPLICAS = 2  # of each service
#: Seconds between two articles of a test's stream: slower than the fault suite's, for the
#: faults here take minutes (the feeds' histories read after each grow with the stream).
PACE = 1.0


@contextmanager
def started_cluster(state: Path) -> Iterator[Infra]:
    """Three Kafka nodes and a FerretDB on free ports, stopped at the end."""
    ports = [stack.free_port() for _ in range(2 * BROKERS)]
    cluster = stack.KafkaCluster.local(state, BROKERS, ports)
    database = stack.FerretDB(state, port=stack.free_port())
    try:
        cluster.start()
        database.start()
        lines = [
            f"Kafka: a cluster of {BROKERS} Apache Kafka {stack.KAFKA_VERSION} nodes (KRaft) at "
            f"{cluster.bootstrap}",
            f"Database: FerretDB {stack.FERRETDB_VERSION} at {database.uri}",
        ]
        yield Infra(cluster.bootstrap, database.uri, "cluster", lines, None, database, cluster)
    finally:
        database.stop()
        cluster.stop()


@dataclass
class Replica:
    """One process of a service, of this checkout or of another release (``cwd``)."""

    service: str
    process: stack.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    """The replicas of each service on a :class:`System`: its own first replica of each, and
    more started here; replaced one at a time the way a Kubernetes rollout does."""

    system: System
    replicas: list[Replica] = field(default_factory=list)
    started: int = 0

    def __post_init__(self) -> None:
        for name, process in self.system.processes.items():
            self.replicas.append(Replica(name, process, self.system.ports[name]))

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service == service]

    def url(self, service: str) -> str:
        """The base URL of a replica of ``service`` (the first that runs)."""
        return self.of(service)[0].url

    def add(self, service: str, cwd: Path = stack.REPO, **env: str) -> Replica:
        """Start one more replica (from the tree at ``cwd``) and wait until it is ready."""
        self.started += 1
        port = stack.free_port()
        settings = {**self.system.env, f"{service.upper()}_HTTP_PORT": str(port), **env}
        name = f"{service}-{self.started}"
        argv = [sys.executable, "-m", f"services.{service}"]
        process = stack.Process(name, self.system.state, argv, env=settings, cwd=cwd)
        process.start()
        replica = Replica(service, process, port)
        self.replicas.append(replica)
        url = f"{replica.url}/readyz"
        stack.wait_until(lambda: ready(url), f"{name} ({cwd})", 90, process)
        return replica

    def remove(self, replica: Replica, sig: int = signal.SIGTERM) -> None:
        """Stop a replica (SIGTERM: it finishes and commits what it holds, as a pod does)."""
        replica.process.stop(timeout=30, sig=sig)
        self.replicas.remove(replica)

    def replace(self, replica: Replica, cwd: Path = stack.REPO, **env: str) -> Replica:
        """The new replica first, ready, then the old one stopped: maxSurge 1, maxUnavailable 0
        (what a Deployment of two replicas does with the default 25 %)."""
        new = self.add(replica.service, cwd, **env)
        self.remove(replica)
        return new

    def roll(self, service: str, cwd: Path = stack.REPO) -> None:
        for replica in list(self.of(service)):
            self.replace(replica, cwd)

    def stop_added(self) -> None:
        for replica in list(self.replicas):
            if replica.process.name != replica.service:  # the System stops its own
                self.remove(replica)


async def describe(bootstrap: str) -> list[dict[str, Any]]:
    """Every topic's partitions: leader, replicas and in-sync replicas (the Metadata API)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return list(await admin.describe_topics())
    finally:
        await admin.close()


async def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """The leader (node id) of each partition of ``topic``."""
    for described in await describe(bootstrap):
        if described["topic"] == topic:
            return {p["partition"]: p["leader"] for p in described["partitions"]}
    return {}


async def under_replicated(bootstrap: str) -> int:
    """Partitions with fewer in-sync replicas than replicas (0 once a cluster has healed)."""
    return sum(
        len(p["isr"]) < len(p["replicas"])
        for described in await describe(bootstrap)
        for p in described["partitions"]
    )


async def healed(cluster: stack.KafkaCluster, timeout: float = 120) -> None:
    """Until every partition of every topic has all its replicas in sync again."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                if await under_replicated(cluster.bootstrap) == 0:
                    return
            except Exception:  # a node still starting: ask again
                pass
            await asyncio.sleep(0.5)  # poll interval while replicas catch up


def active_controller(cluster: stack.KafkaCluster) -> int:
    """The node leading the KRaft quorum, as the running nodes' quorum state says."""
    for node in cluster.nodes:
        state = node.data / "__cluster_metadata-0" / "quorum-state"
        if node.process.pid() is None or not state.exists():
            continue
        leader = int(json.loads(state.read_text()).get("leaderId", -1))
        if leader > 0:
            return leader
    raise RuntimeError("no running node knows the quorum's leader")


async def coordinator(bootstrap: str, group: str) -> int:
    """The node coordinating a consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return await admin.find_coordinator(group)
    finally:
        await admin.close()


@dataclass
class Clustered:
    system: System
    fleet: Fleet

    @property
    def cluster(self) -> stack.KafkaCluster:
        assert self.system.infra.kafka_cluster is not None
        return self.system.infra.kafka_cluster


#: Kafka's max.poll.interval for every consumer here (300 s by default), as in the fault suite.
POLL_INTERVAL = 10


@pytest.fixture(scope="package")  # stopped once tests/cluster is done, not at the session's end
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clustered]:
    """The cluster, the database and two replicas of each service, for every test here."""
    env = {
        f"{service.upper()}_MAX_POLL_INTERVAL_SECONDS": str(POLL_INTERVAL)
        for service in stack.SERVICES
    }
    with (
        started_cluster(tmp_path_factory.mktemp("cluster")) as infra,
        started_system(infra, tmp_path_factory.mktemp("cluster-services"), **env) as system,
    ):
        for line in infra.description:
            print(f"\n[infra] {line}", file=sys.stderr)
        fleet = Fleet(system)
        try:
            for service in stack.SERVICES:
                for _ in range(REPLICAS - 1):
                    fleet.add(service)
            yield Clustered(system, fleet)
        finally:
            fleet.stop_added()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
