"""Articles and their versions in MongoDB.

Versions are content-addressed: a submission whose content matches a stored version of the same
article is that version again (a redelivery or a double submit) and changes nothing. New content
becomes the next version. (So reverting to the exact content of an earlier version is a no-op; an
explicit revision field would be needed to make a revert a new version.) The head document
records which version was last announced on ``articles.ingested``, so a crash between storing and
publishing is repaired on redelivery.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.ingest.article import Prepared
from shared.contracts import IngestedArticle, utcnow
from shared.storage import Collection, Database, Document

ARTICLES = Collection(
    "articles",
    (
        IndexModel([("publisher", ASCENDING), ("updated_at", DESCENDING)]),
        IndexModel([("publisher", ASCENDING), ("external_id", ASCENDING)]),
    ),
)
VERSIONS = Collection(
    "article_versions",
    (IndexModel([("article_id", ASCENDING), ("content_hash", ASCENDING)], unique=True),),
)
COLLECTIONS = (ARTICLES, VERSIONS)


class ArticleStore:
    def __init__(self, db: Database) -> None:
        self.articles = db[ARTICLES.name]
        self.versions = db[VERSIONS.name]

    async def record(self, prepared: Prepared) -> IngestedArticle:
        """Store the content as a version (idempotent) and return that version's event."""
        for _ in range(20):
            known = await self.versions.find_one(
                {"article_id": prepared.article_id, "content_hash": prepared.content_hash}
            )
            if known is not None:
                break
            head = await self.articles.find_one({"_id": prepared.article_id}, {"version": 1})
            version = (head["version"] if head else 0) + 1
            event = IngestedArticle(
                article_id=prepared.article_id,
                version=version,
                content_hash=prepared.content_hash,
                ingested_at=utcnow(),
                **prepared.content,
            )
            try:
                await self.versions.insert_one(
                    {
                        "_id": f"{prepared.article_id}:{version}",
                        "article_id": prepared.article_id,
                        "version": version,
                        "content_hash": prepared.content_hash,
                        "event": event.model_dump(mode="json"),
                    }
                )
            except DuplicateKeyError:
                continue  # a concurrent submission took this number (or this content): look again
            known = {"version": version, "event": event.model_dump(mode="json")}
            break
        else:  # pragma: no cover - needs 20 concurrent writers on one article
            raise RuntimeError(f"could not allocate a version for {prepared.article_id}")
        stored = IngestedArticle.model_validate(known["event"])
        await self._advance_head(stored)
        return stored

    async def _advance_head(self, event: IngestedArticle) -> None:
        now = utcnow()
        try:
            await self.articles.update_one(
                {"_id": event.article_id, "version": {"$lt": event.version}},
                {
                    "$set": {
                        "version": event.version,
                        "publisher": event.publisher,
                        "external_id": event.external_id,
                        "language": event.language,
                        "headline": event.headline,
                        "status": event.status.value,
                        "content_hash": event.content_hash,
                        "updated_at": now,
                    },
                    "$setOnInsert": {"created_at": now, "announced_version": 0},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # the head is already at this version or a later one

    async def latest(self, article_id: str) -> Document | None:
        return await self.articles.find_one({"_id": article_id})

    async def needs_announcing(self, event: IngestedArticle) -> bool:
        """Is this the latest version, not yet announced downstream?"""
        head = await self.latest(event.article_id)
        return bool(
            head
            and head["version"] == event.version
            and head.get("announced_version", 0) < event.version
        )

    async def mark_announced(self, event: IngestedArticle) -> None:
        await self.articles.update_one(
            {"_id": event.article_id, "announced_version": {"$lt": event.version}},
            {"$set": {"announced_version": event.version}},
        )

    async def versions_of(self, article_id: str) -> list[dict[str, Any]]:
        cursor = self.versions.find({"article_id": article_id}).sort("version", ASCENDING)
        return [
            {
                "version": d["version"],
                "content_hash": d["content_hash"],
                "ingested_at": d["event"]["ingested_at"],
            }
            async for d in cursor
        ]
