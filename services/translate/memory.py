"""Translation memory: a segment already translated by the same engine, model, model version,
glossary and text normaliser is served from the database instead of being translated again.

Corrections usually change one paragraph of an article, and boilerplate (datelines, contact
lines) repeats across articles, so most segments of a new version have been translated before.
Everything that can change the output is part of the key, so a new model version or normaliser
misses cleanly instead of serving stale text; old entries are simply never read again.

The store is ``translation_memory`` with the key as ``_id``: FerretDB 1.24 on SQLite indexes
nothing else, so every read is a point read by ``_id`` (``$in`` would scan the collection).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo.errors import BulkWriteError

from services.translate.routing import Leg, Router
from shared.contracts import utcnow
from shared.persian import NORMALISER_VERSION
from shared.storage import Collection, Database, find_by_ids

MEMORY = Collection("translation_memory")  # only the _id index: all reads are by _id
COLLECTIONS = (MEMORY,)

DUPLICATE_KEY = 11000


def route_signature(legs: Iterable[Leg]) -> list[list[str | None]]:
    """What identifies the output of a route: each leg's engine, model, model version and
    language pair (the pair tells a pivot through English from one through another language)."""
    return [[leg.engine, leg.model, leg.model_version, leg.source, leg.target] for leg in legs]


def preferred_legs(router: Router, source: str, target: str) -> tuple[Leg, ...]:
    """The legs of the route :meth:`Router.translate` tries first, without calling it."""
    routes = router.routes(source, target)
    if not routes:
        raise router.no_route(source, target)
    route = routes[0]
    hops = [source, *([router.pivot] if len(route) > 1 else []), target]
    return tuple(
        Leg(e.name, e.model, e.model_version, src, tgt)
        for e, src, tgt in zip(route, hops[:-1], hops[1:], strict=True)
    )


def memory_key(
    source: str,
    target: str,
    legs: Iterable[Leg],
    text: str,
    *,
    glossary_version: str | None = None,
    normaliser_version: str = NORMALISER_VERSION,
) -> str:
    """SHA-256 (hex) of everything that determines a segment's translation, JSON-encoded so
    that no two different tuples can produce the same bytes."""
    material = [
        source,
        target,
        route_signature(legs),
        glossary_version or "none",
        normaliser_version,
        text,
    ]
    encoded = json.dumps(material, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class TranslationMemory:
    """Point reads and idempotent inserts on ``translation_memory``, with hit/miss counters
    (distinct segments) for the logs and benchmarks."""

    def __init__(self, db: Database) -> None:
        self.coll = db[MEMORY.name]
        self.hits = 0
        self.misses = 0

    async def lookup(self, keys: Iterable[str]) -> dict[str, str]:
        """Stored translations by key; keys not stored are absent from the result. One ``$in``
        read (:func:`shared.storage.find_by_ids`). Database errors propagate."""
        found = await find_by_ids(self.coll, list(keys), {"text": 1})
        return {key: str(doc["text"]) for key, doc in found.items()}

    async def store(self, entries: Mapping[str, str], *, legs: Sequence[Leg] = ()) -> None:
        """Insert new translations; an entry that another replica stored first is left alone
        (same key, same inputs). Any other write error, or a write-concern error, propagates."""
        if not entries:
            return
        now = utcnow()
        # One string per leg: FerretDB (SQLite) stores no nested arrays.
        route = [" ".join(str(part) for part in leg) for leg in route_signature(legs)]
        docs: list[dict[str, Any]] = [
            {"_id": key, "text": text, "route": route, "created_at": now}
            for key, text in entries.items()
        ]
        try:
            await self.coll.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            details = exc.details or {}
            if details.get("writeConcernErrors") or any(
                err.get("code") != DUPLICATE_KEY for err in details.get("writeErrors", [])
            ):
                raise
