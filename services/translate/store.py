"""Translation state per (article, language): what was produced, for which version, and
whether it was announced downstream (so a crash between the two is repaired on redelivery)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from shared.contracts import TranslatedArticle, utcnow
from shared.storage import Collection, Database, Document

TRANSLATIONS = Collection(
    "translations",
    (IndexModel([("article_id", ASCENDING), ("language", ASCENDING)]),),
)
COLLECTIONS = (TRANSLATIONS,)


class Status(StrEnum):
    PENDING = "pending"
    TRANSLATED = "translated"
    FAILED = "failed"


class TranslationStore:
    def __init__(self, db: Database) -> None:
        self.coll = db[TRANSLATIONS.name]

    @staticmethod
    def key(article_id: str, language: str) -> str:
        return f"{article_id}:{language}"

    async def get(self, article_id: str, language: str) -> Document | None:
        return await self.coll.find_one({"_id": self.key(article_id, language)})

    async def _upsert_if_newer(
        self, article_id: str, language: str, version: int, fields: dict[str, Any]
    ) -> None:
        """Write state for ``version`` unless a later version is already stored."""
        try:
            await self.coll.update_one(
                {"_id": self.key(article_id, language), "version": {"$lte": version}},
                {
                    "$set": {
                        "article_id": article_id,
                        "language": language,
                        "version": version,
                        "updated_at": utcnow(),
                        **fields,
                    },
                    "$setOnInsert": {"announced_version": 0},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a later version is stored

    async def mark_pending(self, article_id: str, language: str, version: int, reason: str) -> None:
        await self._upsert_if_newer(
            article_id, language, version, {"status": Status.PENDING.value, "reason": reason}
        )

    async def save(self, event: TranslatedArticle) -> None:
        await self._upsert_if_newer(
            event.article_id,
            event.language,
            event.version,
            {
                "status": Status.TRANSLATED.value,
                "reason": None,
                "event": event.model_dump(mode="json"),
            },
        )

    async def mark_announced(self, event: TranslatedArticle) -> None:
        await self.coll.update_one(
            {
                "_id": self.key(event.article_id, event.language),
                "announced_version": {"$lt": event.version},
            },
            {"$set": {"announced_version": event.version}},
        )
