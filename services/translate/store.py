"""Translation state per (article, language), and editors' human translations.

``translations`` holds, per ``<article>:<language>``: the version it is about, its status, the
event (once there is one), a ``revision`` counter incremented with every new event and the
highest revision announced downstream. Consumers keep the highest (version, revision), so a human
translation replaces the machine one of the same version whichever was published last, and a
crash between storing and publishing is repaired on redelivery (stored, not announced: publish).

Every read and write addresses one ``_id``: FerretDB 1.24 on SQLite serves nothing else from an
index. Writes for one article come from one consumer (Kafka partitions by article id); the human
path races with it only within one version, which the revision order settles.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ReturnDocument

from shared.contracts import HumanTranslation, TranslatedArticle, utcnow
from shared.storage import IDS_PER_READ, Collection, Database, Document, find_by_ids

TRANSLATIONS = Collection("translations")
HUMAN = Collection("human_translations")  # _id "<article>:<language>:<version>"
COLLECTIONS = (TRANSLATIONS, HUMAN)


class Status(StrEnum):
    PENDING = "pending"  # no engine or no route: says why
    TRANSLATED = "translated"  # published (or about to be)
    # Held for an editor (the publisher's policy: a failed check, or review of everything); its
    # event is announced with provenance.held, which the feeds skip. ``held_at`` says since when.
    REVIEW = "review"
    FAILED = "failed"  # every engine failed; the message is in the dead-letter topic
    WITHDRAWN = "withdrawn"


def key(article_id: str, language: str) -> str:
    return f"{article_id}:{language}"


def human_key(article_id: str, language: str, version: int) -> str:
    """An editor's translation of one version into one language."""
    return f"{key(article_id, language)}:{version}"


class TranslationStore:
    def __init__(self, db: Database) -> None:
        self.coll = db[TRANSLATIONS.name]
        self.human = db[HUMAN.name]

    async def states(self, keys: Iterable[str]) -> dict[str, Document]:
        """Stored state by key (absent keys are missing): one ``$in`` read."""
        return await find_by_ids(self.coll, list(keys))

    async def get(self, article_id: str, language: str) -> Document | None:
        return await self.coll.find_one({"_id": key(article_id, language)})

    async def mark(
        self, article_id: str, language: str, version: int, status: Status, reason: str
    ) -> None:
        """Record why there is no translation of ``version`` (pending, failed)."""
        await self.coll.update_one(
            {"_id": key(article_id, language)},
            {
                "$set": {
                    "article_id": article_id,
                    "language": language,
                    "version": version,
                    "status": status.value,
                    "reason": reason,
                    "updated_at": utcnow(),
                }
            },
            upsert=True,
        )

    async def record(
        self,
        event: TranslatedArticle,
        status: Status,
        *,
        reason: str | None = None,
        human: bool = False,
        held_at: datetime | None = None,
    ) -> TranslatedArticle:
        """Store ``event`` as the latest for its (article, language) under a new revision, and
        return it carrying that revision. ``held_at``: since when it waits for an editor (kept
        for the time-to-approval metric)."""
        fields: dict[str, Any] = {
            "article_id": event.article_id,
            "language": event.language,
            "version": event.version,
            "status": status.value,
            "reason": reason,
            "event": event.model_dump(mode="json", exclude={"revision"}),
            "updated_at": utcnow(),
        }
        if human:
            fields["human_version"] = event.version
        fields["held_at"] = held_at
        doc = await self.coll.find_one_and_update(
            {"_id": key(event.article_id, event.language)},
            {"$set": fields, "$inc": {"revision": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # upsert with ReturnDocument.AFTER always returns it
        return event.model_copy(update={"revision": int(doc["revision"])})

    async def mark_announced(self, events: Iterable[TranslatedArticle]) -> None:
        """Note ``events`` announced: one ``update`` per revision number among them (almost
        always one: the first translation of each), ``$in`` by ``_id``."""
        by_revision: dict[int, list[str]] = {}
        for event in events:
            by_revision.setdefault(event.revision, []).append(key(event.article_id, event.language))
        for revision, keys in sorted(by_revision.items()):
            for at in range(0, len(keys), IDS_PER_READ):
                await self.coll.update_many(
                    {"_id": {"$in": keys[at : at + IDS_PER_READ]}},
                    {"$max": {"announced_revision": revision}},
                )

    async def save_human(self, translation: HumanTranslation) -> None:
        """Keep the editor's text (the latest submission for a version wins)."""
        doc = translation.model_dump(mode="python")
        await self.human.replace_one(
            {"_id": human_key(translation.article_id, translation.language, translation.version)},
            doc,
            upsert=True,
        )

    async def human_translation(
        self, article_id: str, language: str, version: int
    ) -> HumanTranslation | None:
        doc = await self.human.find_one({"_id": human_key(article_id, language, version)})
        return HumanTranslation.model_validate(doc) if doc else None

    async def human_translations(
        self, wanted: Iterable[tuple[str, str, int]]
    ) -> dict[str, HumanTranslation]:
        """The editors' translations of these (article, language, version), by
        :func:`human_key`: one ``$in`` read."""
        docs = await find_by_ids(self.human, [human_key(*w) for w in wanted])
        return {k: HumanTranslation.model_validate(d) for k, d in docs.items()}


def stored_event(state: Document) -> TranslatedArticle | None:
    """The stored event with its revision, if the state has one."""
    if not state.get("event"):
        return None
    return TranslatedArticle.model_validate(
        {**state["event"], "revision": int(state.get("revision", 0))}
    )


def held_since(state: Document | None, version: int) -> datetime | None:
    """Since when ``version`` has waited for an editor, if it is held."""
    if state is None or state.get("status") != Status.REVIEW.value:
        return None
    if state.get("version") != version:
        return None
    held_at = state.get("held_at")
    return held_at if isinstance(held_at, datetime) else None


def announced(state: Document) -> bool:
    return int(state.get("announced_revision", 0)) >= int(state.get("revision", 0)) > 0
