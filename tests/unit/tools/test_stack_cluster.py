"""deploy/local/stack.py's Kafka cluster (``make run CLUSTER=3``): each node's configuration,
how the size is chosen and remembered, and what the services are told. Nothing is started here
(tests/cluster starts real clusters)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy.local import stack


def properties(node: stack.Kafka) -> dict[str, str]:
    node.write_config()
    lines = node.config_path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def test_three_nodes_share_a_static_quorum_and_replicate_three_times(tmp_path: Path) -> None:
    cluster = stack.KafkaCluster.local(tmp_path, 3)
    assert cluster.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    configs = [properties(node) for node in cluster.nodes]
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert {c["controller.quorum.voters"] for c in configs} == {voters}
    assert all("controller.quorum.bootstrap.servers" not in c for c in configs)
    for config in configs:
        assert config["default.replication.factor"] == "3"
        assert config["offsets.topic.replication.factor"] == "3"
        assert config["min.insync.replicas"] == "2"  # acks=all: two copies before an answer
        assert config["transaction.state.log.min.isr"] == "2"
    # Each node its own process, log and data folder.
    assert len({n.process.logfile for n in cluster.nodes}) == 3
    assert len({n.data for n in cluster.nodes}) == 3
    # One cluster id for every node, kept for the next start.
    assert len({n.cluster_id for n in cluster.nodes}) == 1
    assert stack.KafkaCluster.local(tmp_path, 3).nodes[0].cluster_id == cluster.nodes[0].cluster_id


def test_one_node_stays_as_it_was(tmp_path: Path) -> None:
    node = stack.Kafka(tmp_path)
    config = properties(node)
    assert node.name == "kafka" and node.data == tmp_path / "kafka" / "data"
    assert config["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert config["min.insync.replicas"] == "1" and config["default.replication.factor"] == "1"


def test_two_nodes_replicate_twice_and_need_one_in_sync(tmp_path: Path) -> None:
    config = properties(stack.KafkaCluster.local(tmp_path, 2).nodes[1])
    assert config["default.replication.factor"] == "2" and config["min.insync.replicas"] == "1"


def test_the_size_comes_from_the_option_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CITYFEEDS_KAFKA_NODES", raising=False)
    assert stack.kafka_nodes() == 1
    monkeypatch.setenv("CITYFEEDS_KAFKA_NODES", "3")
    assert stack.kafka_nodes() == 3
    assert stack.kafka_nodes(1) == 1
    for wrong in ("0", "three"):
        monkeypatch.setenv("CITYFEEDS_KAFKA_NODES", wrong)
        with pytest.raises(stack.ProvisionError, match="CLUSTER"):
            stack.kafka_nodes()


def test_the_services_are_given_every_broker_and_the_replication_factor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("TOPIC_REPLICATION_FACTOR", raising=False)
    assert stack.infra_env(tmp_path)["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert "TOPIC_REPLICATION_FACTOR" not in stack.infra_env(tmp_path)
    (tmp_path / "kafka.nodes").write_text("3")  # what `up --kafka-nodes 3` leaves
    env = stack.infra_env(tmp_path)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert env["TOPIC_REPLICATION_FACTOR"] == "3"
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "2")
    assert stack.infra_env(tmp_path)["TOPIC_REPLICATION_FACTOR"] == "2"


def test_a_running_kafka_of_another_size_is_not_silently_kept(tmp_path: Path) -> None:
    node = stack.Kafka(tmp_path)
    node.process.pidfile.parent.mkdir(parents=True, exist_ok=True)
    node.process.pidfile.write_text(str(os.getpid()))  # "running"
    with pytest.raises(RuntimeError, match="1 node"):
        stack.start_kafka(tmp_path, 3)
