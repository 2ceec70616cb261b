"""Test infrastructure: a real Kafka broker and a real MongoDB-protocol database.

By default the suite starts its own Apache Kafka and FerretDB (``deploy/local/stack.py``) on free
ports in a temporary directory, so it never touches a running ``make run``. Set
``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` to test against other servers (docker-compose's
real MongoDB, say); each run then uses a database of its own.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local import stack

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Infra:
    kafka: str
    mongodb_uri: str
    database: str
    description: list[str]
    # The servers, when this suite started them (so a fault test can stop and restart them).
    kafka_server: stack.Kafka | None = None
    database_server: stack.FerretDB | None = None
    kafka_cluster: stack.KafkaCluster | None = None  # tests/cluster's three brokers

    def env(self) -> dict[str, str]:
        replicas = self.kafka_cluster.replication_factor if self.kafka_cluster else 1
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "MONGODB_URI": self.mongodb_uri,
            "MONGODB_DATABASE": self.database,
            "TOPIC_PARTITIONS": "3",
            "TOPIC_REPLICATION_FACTOR": str(replicas),
        }


_USED: list[str] = []


@contextmanager
def started_infra(state: Path, kafka: str | None, mongo: str | None) -> Iterator[Infra]:
    """Kafka and the database: those given, else started here (and stopped at the end)."""
    k = f = None
    lines = []
    try:
        if kafka:
            lines.append(f"Kafka: external at {kafka}")
        else:
            k = stack.Kafka(state, port=stack.free_port(), controller_port=stack.free_port())
            k.start()
            kafka = k.bootstrap
            lines.append(
                f"Kafka: Apache Kafka {stack.KAFKA_VERSION} (KRaft, started by the suite) "
                f"at {kafka}"
            )
        if not mongo:
            f = stack.FerretDB(state, port=stack.free_port())
            f.start()
            mongo = f.uri
            lines.append(
                f"Database: FerretDB {stack.FERRETDB_VERSION} (SQLite, started by the suite; "
                f"{_describe_mongo(mongo)}) at {mongo}"
            )
        else:
            lines.append(f"Database: external {_describe_mongo(mongo)} at {mongo}")
        yield Infra(kafka, mongo, f"test_{uuid.uuid4().hex[:12]}", lines, k, f)
    finally:
        for component in (f, k):
            if component is not None:
                component.stop()


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    mongo = os.environ.get("MONGODB_URI")
    with started_infra(tmp_path_factory.mktemp("stack"), kafka, mongo) as found:
        _USED.extend(found.description)
        for line in found.description:
            print(f"\n[infra] {line}", file=sys.stderr)
        yield found


def _describe_mongo(uri: str) -> str:
    from pymongo import MongoClient

    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        info = client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return f"reports MongoDB {info['version']}"
    return f"MongoDB {info['version']}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _USED:
        terminalreporter.section("infrastructure used")
        for line in _USED:
            terminalreporter.write_line(line)
