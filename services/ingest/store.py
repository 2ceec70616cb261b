"""Articles, their versions and embargoes in MongoDB.

* ``articles``: one *head* per article (``_id`` = article id) with the latest version's event,
  what was announced downstream, the Kafka offsets already applied and, per target language, the
  translation status reported back on ``articles.translated``.
* ``article_versions``: every version ever stored (``_id`` = ``<article id>:<version>``).
* ``embargoes``: the heads waiting for their embargo to end (small, so polling it is cheap).

Every read and write goes by ``_id`` so it stays fast on FerretDB's SQLite backend, whose only
indexed lookups are by ``_id``. Writes happen per batch: the versions, then the announcements,
then the heads; a crash in between leaves versions the heads do not know yet, which the next
attempt finds and adopts (see :meth:`ArticleStore.heads`).
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
from shared.messaging import TransientError
from shared.storage import Collection, Database, Document

ARTICLES = Collection(
    "articles", (IndexModel([("publisher", ASCENDING), ("updated_at", DESCENDING)]),)
)
VERSIONS = Collection("article_versions", (IndexModel([("article_id", ASCENDING)]),))
EMBARGOES = Collection("embargoes")
COLLECTIONS = (ARTICLES, VERSIONS, EMBARGOES)

#: Concurrent single-document reads per batch (each one is an indexed ``_id`` lookup).
READ_CONCURRENCY = 32


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

    async def heads(self, article_ids: Iterable[str]) -> dict[str, Head]:
        """The heads of these articles (new ones for unknown ids), with any stored version the
        head does not know yet adopted: an interrupted batch wrote it but not the head."""
        ids = sorted(set(article_ids))
        docs = await asyncio.gather(*(self._find(self.articles, i) for i in ids))
        heads = {i: Head.from_doc(d) if d else Head(i) for i, d in zip(ids, docs, strict=True)}
        await asyncio.gather(*(self._adopt_orphans(h) for h in heads.values()))
        return heads

    async def _adopt_orphans(self, head: Head) -> None:
        while doc := await self._find(self.versions, version_id(head.article_id, head.version + 1)):
            head.adopt(IngestedArticle.model_validate(doc["event"]), doc.get("embargo_until"))

    async def insert_versions(
        self, events: list[tuple[IngestedArticle, datetime | None]], submitted_at: datetime
    ) -> None:
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
                "stored_at": submitted_at,
            }
            for e, embargo in events
        ]
        try:
            await self.versions.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            clashes = [e for e in exc.details.get("writeErrors", []) if e.get("code") == 11000]
            if len(clashes) != len(exc.details.get("writeErrors", [])):
                raise
            # Another consumer of the same partition (a rebalance in progress) stored these
            # numbers first: retry the batch, which adopts what it wrote.
            raise TransientError(f"{len(clashes)} article versions written concurrently") from exc

    async def save_heads(self, heads: Iterable[Head]) -> None:
        now = utcnow()
        ops = []
        for h in heads:
            if not h.changed or h.event is None:
                continue
            e = h.event
            fields = {
                "publisher": e.publisher,
                "external_id": e.external_id,
                "language": e.language,
                "headline": e.headline,
                "status": e.status.value,
                "version": h.version,
                "content_hash": h.content_hash,
                "event": e.model_dump(mode="json"),
                "announced_version": h.announced_version,
                "embargo_until": h.embargo_until,
                "offsets": h.offsets,
                "updated_at": now,
            }
            ops.append(
                UpdateOne(
                    {"_id": h.article_id},
                    {"$set": fields, "$setOnInsert": {"created_at": now}},
                    upsert=True,
                )
            )
        if ops:
            await self.articles.bulk_write(ops, ordered=False)

    async def sync_embargoes(self, heads: Iterable[Head], now: datetime) -> None:
        """Keep ``embargoes`` listing exactly the heads still waiting for their time."""
        for h in heads:
            if not h.changed:
                continue
            if h.held(now):
                await self.embargoes.replace_one(
                    {"_id": h.article_id}, {"until": h.embargo_until}, upsert=True
                )
            else:
                await self.embargoes.delete_one({"_id": h.article_id})

    async def embargoes_due(self, now: datetime) -> list[str]:
        return [d["_id"] async for d in self.embargoes.find({"until": {"$lte": now}})]

    async def mark_announced(self, head: Head) -> None:
        await self.articles.update_one(
            {"_id": head.article_id}, {"$set": {"announced_version": head.announced_version}}
        )

    async def release(self, article_id: str) -> None:
        await self.embargoes.delete_one({"_id": article_id})

    # ------------------------------------------------------------------ read side (the API)

    async def latest(self, article_id: str) -> Document | None:
        return await self.articles.find_one({"_id": article_id})

    async def versions_of(self, article_id: str) -> list[dict[str, Any]]:
        cursor = self.versions.find(
            {"article_id": article_id}, {"version": 1, "content_hash": 1, "event": 1}
        ).sort("version", ASCENDING)
        return [
            {
                "version": d["version"],
                "status": d["event"]["status"],
                "headline": d["event"]["headline"],
                "content_hash": d["content_hash"],
                "ingested_at": d["event"]["ingested_at"],
            }
            async for d in cursor
        ]

    async def record_translation(self, event: TranslatedArticle) -> None:
        """Remember, on the head, the newest translation reported for one language."""
        head = await self.articles.find_one({"_id": event.article_id}, {"languages": 1})
        if head is None:
            return
        known = (head.get("languages") or {}).get(event.language)
        if known and known["version"] > event.version:
            return
        p = event.provenance
        await self.articles.update_one(
            {"_id": event.article_id},
            {
                "$set": {
                    f"languages.{event.language}": {
                        "version": event.version,
                        "status": "withdrawn" if event.status.value == "withdrawn" else "published",
                        "method": p.method.value,
                        "reviewed": p.reviewed,
                        "engine": p.engine,
                        "model": p.model,
                        "translated_at": p.translated_at,
                    }
                }
            },
        )
