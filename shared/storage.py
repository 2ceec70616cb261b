"""MongoDB access through PyMongo's native async API (``AsyncMongoClient``, motor's successor).

Everything here stays inside what both MongoDB 7/8 and FerretDB 1.24 support: plain, unique and
compound indexes; no TTL or partial indexes, transactions or change streams.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
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


def connect(settings: InfraSettings, app_name: str) -> AsyncMongoClient[Document]:
    """A client that returns timezone-aware UTC datetimes."""
    return AsyncMongoClient(
        settings.mongodb_uri,
        appname=app_name,
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=5_000,
        retryWrites=False,  # FerretDB 1.x has no retryable writes; our writes are idempotent.
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
