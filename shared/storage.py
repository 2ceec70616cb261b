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
    BulkWriteError,
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
#: Documents a write command carries (``syndication_db_documents_written_total``): an insert
#: of 50 documents is one command and 50 documents, and the database's cost follows the latter.
DB_WRITES = "syndication_db_documents_written"
#: Where clients count when no registry is given (a CLI's, a test's): this process's own.
COMMANDS_REGISTRY = CollectorRegistry()
_counters: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Counter, Counter]] = (
    weakref.WeakKeyDictionary()
)
#: The field that lists a write command's statements (findAndModify writes one document).
WRITE_STATEMENTS = {"insert": "documents", "update": "updates", "delete": "deletes"}


def commands_counter(registry: CollectorRegistry) -> tuple[Counter, Counter]:
    """The ``syndication_db_commands_total{service,command}`` and
    ``syndication_db_documents_written_total{service,command}`` counters of ``registry`` (one
    pair per registry, however many clients count into it)."""
    counters = _counters.get(registry)
    if counters is None:
        labels = ["service", "command"]
        counters = (
            Counter(
                DB_COMMANDS,
                "Database commands sent by this process, by command name (find, update, ...).",
                labels,
                registry=registry,
            ),
            Counter(
                DB_WRITES,
                "Documents written by this process's write commands (inserted, updated or "
                "deleted, as statements), by command name.",
                labels,
                registry=registry,
            ),
        )
        _counters[registry] = counters
    return counters


class CommandCounter(monitoring.CommandListener):
    """Counts every command a client sends, and the documents its writes carry: the cost of a
    stage in round trips to the database and in documents written, which benchmarks read per
    article from ``/metrics``. A dictionary lookup and an increment or two per command."""

    def __init__(self, counters: tuple[Counter, Counter], service: str) -> None:
        self.commands, self.writes = counters
        self.service = service
        self._by_name: dict[str, tuple[Any, Any]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        children = self._by_name.get(name)
        if children is None:
            children = self._by_name[name] = (
                self.commands.labels(self.service, name),
                self.writes.labels(self.service, name),
            )
        children[0].inc()
        if name == "findAndModify":
            children[1].inc()
        elif name in WRITE_STATEMENTS:
            children[1].inc(len(event.command.get(WRITE_STATEMENTS[name]) or ()))

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
DUPLICATE_KEY = 11000  # the server's code for an insert whose _id is taken


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


async def insert_new(coll: Any, docs: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert ``docs`` in order; the ids of those already there (written meanwhile, by another
    replica or another consumer of this one: the caller decides what that means). Inserts by
    ``_id`` are atomic on FerretDB too, unlike its updates."""
    taken: set[str] = set()
    rest = list(docs)
    while rest:
        try:
            await coll.insert_many(rest, ordered=True)
            break
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if not errors or errors[0].get("code") != DUPLICATE_KEY:
                raise
            rest = rest[int(errors[0]["index"]) :]
            # Which of the rest are there is one read, not an insert per duplicate.
            there = await find_by_ids(coll, [d["_id"] for d in rest], {"_id": 1})
            taken |= set(there)
            rest = [d for d in rest if d["_id"] not in there]
    return taken
