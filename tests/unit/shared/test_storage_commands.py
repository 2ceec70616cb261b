"""The database command counter: every command a service's client sends shows on /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import monitoring

from shared.settings import InfraSettings
from shared.storage import COMMANDS_REGISTRY, CommandCounter, connect


def counted(
    registry: CollectorRegistry, metric: str = "syndication_db_commands_total"
) -> dict[tuple[str, str], float]:
    """A counter as exposed: (service, command) -> count, zeros left out."""
    text = generate_latest(registry).decode()
    return {
        (s.labels["service"], s.labels["command"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == metric and s.value
    }


def send(client: object, command: dict[str, object]) -> None:
    """What pymongo does before a command goes on the wire: tell the client's listeners."""
    name = next(iter(command))
    event = monitoring.CommandStartedEvent(command, "db", 1, ("127.0.0.1", 27017), 1)
    assert event.command_name == name
    for listener in client.options.event_listeners:  # type: ignore[attr-defined]
        listener.started(event)


def test_each_command_is_counted_by_service_and_name() -> None:
    registry = CollectorRegistry()
    client = connect(InfraSettings(mongodb_uri="mongodb://127.0.0.1:1"), "feeds", registry)
    assert counted(registry) == {}
    send(client, {"find": "feed_entries", "filter": {}})
    send(client, {"find": "feed_entries", "filter": {}})
    send(client, {"update": "feed_heads", "updates": []})
    assert counted(registry) == {("feeds", "find"): 2.0, ("feeds", "update"): 1.0}


def test_write_commands_count_the_documents_they_carry() -> None:
    """An insert of many documents is one command but many rows for the database to write."""
    registry = CollectorRegistry()
    client = connect(InfraSettings(mongodb_uri="mongodb://127.0.0.1:1"), "feeds", registry)
    send(client, {"insert": "feed_log", "documents": [{"_id": i} for i in range(50)]})
    send(client, {"update": "feed_entries", "updates": [{"q": {}, "u": {}}] * 16})
    send(client, {"delete": "feed_entries", "deletes": [{"q": {}, "limit": 1}] * 2})
    send(client, {"findAndModify": "translations", "query": {}, "update": {}})
    send(client, {"find": "feed_entries", "filter": {}})
    written = counted(registry, "syndication_db_documents_written_total")
    assert written == {
        ("feeds", "insert"): 50.0,
        ("feeds", "update"): 16.0,
        ("feeds", "delete"): 2.0,
        ("feeds", "findAndModify"): 1.0,
    }
    assert sum(counted(registry).values()) == 5.0


def test_clients_share_their_registry_counter() -> None:
    """Two clients of one registry (a service and its CLI in a test) count in one family."""
    registry = CollectorRegistry()
    settings = InfraSettings(mongodb_uri="mongodb://127.0.0.1:1")
    ingest = connect(settings, "ingest", registry)
    translate = connect(settings, "translate", registry)
    send(ingest, {"insert": "articles"})
    send(translate, {"insert": "translations"})
    assert counted(registry) == {("ingest", "insert"): 1.0, ("translate", "insert"): 1.0}


def test_without_a_registry_the_process_counts_for_itself() -> None:
    client = connect(InfraSettings(mongodb_uri="mongodb://127.0.0.1:1"), "registry-cli")
    before = counted(COMMANDS_REGISTRY).get(("registry-cli", "ping"), 0.0)
    send(client, {"ping": 1})
    assert counted(COMMANDS_REGISTRY)[("registry-cli", "ping")] == before + 1
    assert any(isinstance(x, CommandCounter) for x in client.options.event_listeners)
