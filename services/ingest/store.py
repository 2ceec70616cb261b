"""Articles, their versions and embargoes in MongoDB.

* ``articles``: one *head* per article (``_id`` = article id) with the latest version's event,
  what was announced downstream, the Kafka offsets already applied and, per target language, the
  translation status reported back on ``articles.translated``.
* ``article_versions``: every version ever stored (``_id`` = ``<article id>:<version>``).
* ``embargoes``: the heads waiting for their embargo to end (small, so polling it is cheap).

Every read and write goes by ``_id`` so it stays fast on FerretDB's SQLite backend, whose only
indexed lookups are by ``_id``. Writes happen per batch: the versions, the embargo entries, the
announcements, then the heads; a crash in between leaves versions the heads do not know yet.
Storing the next version then clashes with them, and the batch is planned again after adopting
them (see :meth:`ArticleStore.heads`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import BulkWriteError

from services.ingest.versions import Head
from shared.contracts import IngestedArticle, TranslatedArticle, utcnow
from shared.storage import Collection, Database, Document

ARTICLES = Collection(
    "articles", (IndexModel([("publisher", ASCENDING), ("updated_at", DESCENDING)]),)
)
# No secondary index: a version's _id is "<article id>:<n>" and the head knows n, so every lookup
# is by _id, and each insert maintains one index only.
VERSIONS = Collection("article_versions")
EMBARGOES = Collection("embargoes")
COLLECTIONS = (ARTICLES, VERSIONS, EMBARGOES)

#: Concurrent single-document reads per batch (each one is an indexed ``_id`` lookup).
READ_CONCURRENCY = 32


class VersionClash(Exception):
    """A version number or a new head is taken already: an interrupted batch, or another
    consumer of the same partition during a rebalance. Reload (adopting) and plan again."""


async def _insert(coll: Any, docs: list[dict[str, Any]]) -> None:
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if errors and all(e.get("code") == 11000 for e in errors):
            raise VersionClash(f"{len(errors)} documents in {coll.name} exist already") from exc
        raise


def version_id(article_id: str, version: int) -> str:
    return f"{article_id}:{version}"


class ArticleStore:
    def __init__(self, db: Database) -> None:
        self.articles = db[ARTICLES.name]
        self.versions = db[VERSIONS.name]
        self.embargoes = db[EMBARGOES.name]
        self._reads = asyncio.Semaphore(READ_CONCURRENCY)

    async def _find(self, coll: Any, _id: str) -> Document | None:
        async with self._reads:
            doc: Document | None = await coll.find_one({"_id": _id})
            return doc

    async def heads(
        self, article_ids: Iterable[str], *, adopt: bool = False, events_for: Iterable[str] = ()
    ) -> dict[str, Head]:
        """The heads of these articles (new ones for unknown ids), with the latest event loaded
        for ``events_for``. With ``adopt``, stored versions the head does not know yet (an
        interrupted batch wrote them but not the head) become the latest."""
        ids = sorted(set(article_ids))
        docs = await asyncio.gather(*(self._find(self.articles, i) for i in ids))
        heads = {i: Head.from_doc(d) if d else Head(i) for i, d in zip(ids, docs, strict=True)}
        if adopt:
            await asyncio.gather(*(self._adopt_orphans(h) for h in heads.values()))
        wanted = [heads[i] for i in set(events_for) if i in heads]
        await asyncio.gather(*(self.load_event(h) for h in wanted))
        return heads

    async def load_event(self, head: Head) -> None:
        if head.event is None and head.version:
            doc = await self._find(self.versions, version_id(head.article_id, head.version))
            if doc is None:
                raise RuntimeError(f"version {head.version} of {head.article_id} is missing")
            head.event = IngestedArticle.model_validate(doc["event"])

    async def _adopt_orphans(self, head: Head) -> None:
        while doc := await self._find(self.versions, version_id(head.article_id, head.version + 1)):
            head.adopt(IngestedArticle.model_validate(doc["event"]), doc.get("embargo_until"))

    async def insert_versions(
        self, events: list[tuple[IngestedArticle, datetime | None]], stored_at: datetime
    ) -> None:
        """Store new versions; :class:`VersionClash` if a number is taken already."""
        if not events:
            return
        docs = [
            {
                "_id": version_id(e.article_id, e.version),
                "article_id": e.article_id,
                "version": e.version,
                "content_hash": e.content_hash,
                "embargo_until": embargo,
                "event": e.model_dump(mode="json"),
                "stored_at": stored_at,
            }
            for e, embargo in events
        ]
        await _insert(self.versions, docs)

    async def save_heads(self, heads: Iterable[Head]) -> None:
        """Insert the new heads and update the known ones (inserts are much cheaper)."""
        now = utcnow()
        fresh: list[dict[str, Any]] = []
        updates = []
        changed = [h for h in heads if h.changed and h.version]
        for h in changed:
            fields = {
                "status": h.status.value,
                "version": h.version,
                "content_hash": h.content_hash,
                "announced_version": h.announced_version,
                "embargo_until": h.embargo_until,
                "offsets": h.offsets,
                "updated_at": now,
            }
            if h.event is not None:
                e = h.event
                fields |= {
                    "publisher": e.publisher,
                    "external_id": e.external_id,
                    "language": e.language,
                    "headline": e.headline,
                }
            if h.stored:
                updates.append(UpdateOne({"_id": h.article_id}, {"$set": fields}))
            else:
                fresh.append({"_id": h.article_id, **fields, "created_at": now})
        if fresh:
            await _insert(self.articles, fresh)
        if updates:
            await self.articles.bulk_write(updates, ordered=False)
        for h in changed:
            h.stored, h.changed = True, False

    async def sync_embargoes(self, heads: Iterable[Head], now: datetime) -> None:
        """Keep ``embargoes`` listing exactly the heads still waiting for their time."""
        for h in heads:
            if h.held(now):
                if h.embargo_until != h.stored_embargo:
                    await self.embargoes.replace_one(
                        {"_id": h.article_id}, {"until": h.embargo_until}, upsert=True
                    )
            elif h.stored_embargo is not None:
                await self.embargoes.delete_one({"_id": h.article_id})
            h.stored_embargo = h.embargo_until if h.held(now) else None

    async def embargoes_due(self, now: datetime) -> list[str]:
        return [d["_id"] async for d in self.embargoes.find({"until": {"$lte": now}})]

    async def release(self, head: Head) -> None:
        """The embargo is over: record what was announced, and stop waiting."""
        await self.articles.update_one(
            {"_id": head.article_id}, {"$set": {"announced_version": head.announced_version}}
        )
        await self.embargoes.delete_one({"_id": head.article_id})
        head.stored_embargo = None

    # ------------------------------------------------------------------ read side (the API)

    async def exists(self, article_id: str) -> bool:
        """Has any version of this article been stored (heads may lag a moment behind)?"""
        first = await self.versions.find_one({"_id": version_id(article_id, 1)}, {"_id": 1})
        return first is not None

    async def latest(self, article_id: str) -> IngestedArticle | None:
        """The newest stored version of an article, or None. Versions are stored before the
        head, so the search starts at the head's count and goes on while there are more."""
        head = await self._find(self.articles, article_id)
        number = head["version"] if head else 0
        doc = await self._find(self.versions, version_id(article_id, number)) if number else None
        while newer := await self._find(self.versions, version_id(article_id, number + 1)):
            doc, number = newer, number + 1
        return IngestedArticle.model_validate(doc["event"]) if doc else None

    async def recent(self, publisher: str, limit: int) -> list[Document]:
        """The publisher's articles, the most recently changed first (heads only)."""
        cursor = (
            self.articles.find({"publisher": publisher}, {"offsets": 0})
            .sort([("updated_at", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [d async for d in cursor]

    async def article(self, article_id: str) -> tuple[Document | None, list[Document]]:
        """The head and every stored version, oldest first. Versions are stored before they are
        announced and the head is saved after, so the versions are what partners may already
        see: the head's count is only where the search starts."""
        head = await self.articles.find_one({"_id": article_id})
        known = head["version"] if head else 0
        docs = await asyncio.gather(
            *(self._find(self.versions, version_id(article_id, n)) for n in range(1, known + 1))
        )
        versions = [d for d in docs if d is not None]
        while doc := await self._find(self.versions, version_id(article_id, len(versions) + 1)):
            versions.append(doc)
        return head, versions

    async def record_translation(self, event: TranslatedArticle) -> None:
        """Remember, on the head, the newest translation reported for one language."""
        head = await self.articles.find_one({"_id": event.article_id}, {"languages": 1})
        if head is None:
            return
        known = (head.get("languages") or {}).get(event.language)
        if known and (known["version"], known.get("revision", 0)) > (
            event.version,
            event.revision,
        ):
            return
        p = event.provenance
        await self.articles.update_one(
            {"_id": event.article_id},
            {
                "$set": {
                    f"languages.{event.language}": {
                        "version": event.version,
                        "revision": event.revision,
                        "status": "withdrawn" if event.status.value == "withdrawn" else "published",
                        "method": p.method.value,
                        "reviewed": p.reviewed,
                        "engine": p.engine,
                        "model": p.model,
                        "pivot": p.pivot,
                        "glossary_version": p.glossary_version,
                        "missing_terms": p.missing_terms,
                        "needs_review": p.needs_review,
                        "translated_by": p.translated_by,
                        "translated_at": p.translated_at,
                    }
                }
            },
        )
