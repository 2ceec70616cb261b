"""MongoDB access through PyMongo's native async API (``AsyncMongoClient``, motor's successor).

Everything here stays inside what both MongoDB 7/8 and FerretDB 1.24 support: plain, unique and
compound indexes; no TTL or partial indexes, transactions or change streams.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from shared.settings import InfraSettings

Document = dict[str, Any]
Database = AsyncDatabase[Document]

log = logging.getLogger(__name__)

#: Errors that say the database is unreachable, not that the message is bad: retry them.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WriteConcernError,
)


#: Database commands sent, by process and command name (``syndication_db_commands_total``).
DB_COMMANDS = "syndication_db_commands"
#: Where clients count when no registry is given (a CLI's, a test's): this process's own.
COMMANDS_REGISTRY = CollectorRegistry()
_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def commands_counter(registry: CollectorRegistry) -> Counter:
    """The ``syndication_db_commands_total{service,command}`` counter of ``registry`` (one per
    registry, however many clients count into it)."""
    counter = _counters.get(registry)
    if counter is None:
        counter = Counter(
            DB_COMMANDS,
            "Database commands sent by this process, by command name (find, update, ...).",
            ["service", "command"],
            registry=registry,
        )
        _counters[registry] = counter
    return counter


class CommandCounter(monitoring.CommandListener):
    """Counts every command a client sends: the cost of a stage in round trips to the
    database, which benchmarks read per article from ``/metrics``. One dictionary lookup and
    one increment per command."""

    def __init__(self, counter: Counter, service: str) -> None:
        self.counter = counter
        self.service = service
        self._by_name: dict[str, Any] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        child = self._by_name.get(event.command_name)
        if child is None:
            child = self._by_name[event.command_name] = self.counter.labels(
                self.service, event.command_name
            )
        child.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def connect(
    settings: InfraSettings, app_name: str, registry: CollectorRegistry | None = None
) -> AsyncMongoClient[Document]:
    """A client that returns timezone-aware UTC datetimes and counts the commands it sends in
    ``registry`` (a service passes its metrics registry, served at ``/metrics``), labelled
    ``service=app_name``."""
    counter = CommandCounter(
        commands_counter(registry if registry is not None else COMMANDS_REGISTRY), app_name
    )
    return AsyncMongoClient(
        settings.mongodb_uri,
        appname=app_name,
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=5_000,
        retryWrites=False,  # FerretDB 1.x has no retryable writes; our writes are idempotent.
        event_listeners=[counter],
    )


@dataclass(frozen=True)
class Collection:
    """A collection and the indexes it needs, declared next to the code that uses it."""

    name: str
    indexes: Sequence[IndexModel] = field(default_factory=tuple)


async def ensure_indexes(db: Database, collections: Sequence[Collection]) -> None:
    """Create missing indexes; safe to run at every start-up and from several replicas.

    One index per command, and only missing ones: FerretDB 1.24 panics on a ``createIndexes``
    that lists several indexes which all exist already.
    """
    for coll in collections:
        existing = (
            {ix["name"] async for ix in await db[coll.name].list_indexes()}
            if coll.indexes
            else set()
        )
        for index in coll.indexes:
            if index.document["name"] not in existing:
                await db[coll.name].create_indexes([index])
    log.info("indexes ready", extra={"collections": [c.name for c in collections]})


async def server_description(db: Database) -> Mapping[str, Any]:
    """Version facts for the logs and the test report (FerretDB adds ``ferretdbVersion``)."""
    info = await db.command("buildInfo")
    return {k: info[k] for k in ("version", "ferretdbVersion") if k in info}


#: The most ids one ``$in`` read asks for: deploy/local/stack.py's FerretDB serves up to 1,000
#: string ids from the ``_id`` index, as MongoDB does any number.
IDS_PER_READ = 1000


async def find_by_ids(
    coll: Any, ids: Sequence[str], projection: Mapping[str, int] | None = None
) -> dict[str, Document]:
    """The documents with these string ids that exist, by id: one ``{_id: {$in: ...}}`` read
    per ``IDS_PER_READ`` ids (one ``{_id: id}`` for a single id). Read to the end, so the
    server closes each cursor at once (FerretDB holds a SQLite connection per open cursor)."""
    found: dict[str, Document] = {}
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), IDS_PER_READ):
        chunk = wanted[start : start + IDS_PER_READ]
        query = {"_id": chunk[0]} if len(chunk) == 1 else {"_id": {"$in": chunk}}
        async for doc in coll.find(query, projection, batch_size=len(chunk)):
            found[doc["_id"]] = doc
    return found
