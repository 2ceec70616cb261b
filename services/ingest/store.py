"""Articles, their versions and embargoes in MongoDB.

* ``articles``: one *head* per article (``_id`` = article id) with the latest version's event,
  what was announced downstream, the Kafka offsets already applied and, per target language, the
  translation status reported back on ``articles.translated``.
* ``article_versions``: every version ever stored (``_id`` = ``<article id>:<version>``).
* ``embargoes``: the heads waiting for their embargo to end (small, so polling it is cheap).
* ``review_queue``: the machine translations an editor should look at (``_id`` =
  ``<article id>:<language>``): *held* ones (the feeds carry nothing until an editor settles
  them) and *flagged* ones (published under the policy ``publish`` with failed checks). Each
  keeps the whole translated event: the held machine text exists nowhere else an editor can
  read it. Kept in step with ``articles.translated`` by :meth:`ArticleStore.record_translations`:
  an entry leaves when a newer event for its language needs no editor. It holds only what waits,
  so listing a publisher's entries (a filtered scan, FerretDB's SQLite backend indexes only
  ``_id``) stays cheap, as for ``embargoes``.

Every read and write goes by ``_id`` so it stays fast on FerretDB's SQLite backend, whose only
indexed lookups are by ``_id``. Writes happen per chunk of a batch: the versions, the embargo
entries, the announcements, then the heads; a crash in between leaves versions the heads do not
know yet.
Storing the next version then clashes with them, and the batch is planned again after adopting
them (see :meth:`ArticleStore.heads`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import BulkWriteError

from services.ingest.versions import Head
from shared.contracts import (
    ArticleStatus,
    CheckFailure,
    IngestedArticle,
    TranslatedArticle,
    TranslationMethod,
    utcnow,
)
from shared.storage import Collection, Database, Document, find_by_ids

ARTICLES = Collection(
    "articles", (IndexModel([("publisher", ASCENDING), ("updated_at", DESCENDING)]),)
)
# No secondary index: a version's _id is "<article id>:<n>" and the head knows n, so every lookup
# is by _id, and each insert maintains one index only.
VERSIONS = Collection("article_versions")
EMBARGOES = Collection("embargoes")
REVIEWS = Collection("review_queue")
COLLECTIONS = (ARTICLES, VERSIONS, EMBARGOES, REVIEWS)

#: Concurrent single-document reads per batch (each one is an indexed ``_id`` lookup).
READ_CONCURRENCY = 32


class VersionClash(Exception):
    """A version number or a new head is taken already: an interrupted batch, or another
    consumer of the same partition during a rebalance. Reload (adopting) and plan again."""


async def _insert(coll: Any, docs: list[dict[str, Any]], ordered: bool = False) -> None:
    try:
        await coll.insert_many(docs, ordered=ordered)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if errors and all(e.get("code") == 11000 for e in errors):
            raise VersionClash(f"{len(errors)} documents in {coll.name} exist already") from exc
        raise


def version_id(article_id: str, version: int) -> str:
    return f"{article_id}:{version}"


def review_id(article_id: str, language: str) -> str:
    return f"{article_id}:{language}"


ReviewKind = Literal["held", "flagged"]
#: What an editor did about an entry; the event that settles it is then on its way.
ReviewStep = Literal["approved", "edited", "sent back"]


class QueuedTranslation(BaseModel):
    """A machine translation waiting for an editor: held (the feeds carry nothing yet) or
    flagged (published under the policy ``publish`` with failed checks)."""

    article_id: str
    language: str
    publisher: str
    version: int
    revision: int
    kind: ReviewKind
    translation: TranslatedArticle = Field(description="The machine translation, as announced.")
    queued_at: AwareDatetime
    step: ReviewStep | None = None
    step_by: str | None = None
    step_at: AwareDatetime | None = None

    @property
    def failures(self) -> list[CheckFailure]:
        return self.translation.provenance.check_failures

    @property
    def checks(self) -> list[str]:
        """The names of the failed checks, each once, in the order they failed."""
        return list(dict.fromkeys(f.check for f in self.failures))

    def document(self) -> dict[str, Any]:
        """As stored (times as dates, so the queue sorts by them)."""
        doc = self.model_dump(mode="json", exclude={"queued_at", "step_at"})
        return {"_id": review_id(self.article_id, self.language), **doc,
                "queued_at": self.queued_at, "step_at": self.step_at}  # fmt: skip


def review_kind(event: TranslatedArticle) -> ReviewKind | None:
    """Whether an editor should look at this translation: held, flagged, or not at all (a
    withdrawal, an editor's own or reviewed translation, machine output that passed)."""
    p = event.provenance
    if event.status is ArticleStatus.WITHDRAWN or p.method is TranslationMethod.HUMAN:
        return None
    if p.reviewed or p.review is not None:
        return None
    if p.held:
        return "held"
    return "flagged" if p.needs_review or p.check_failures else None


def language_state(event: TranslatedArticle) -> dict[str, Any]:
    """What a head records of the newest translation of one language (``GET /articles``)."""
    p = event.provenance
    if event.status is ArticleStatus.WITHDRAWN:
        status = "withdrawn"
    else:
        status = "held" if p.held and review_kind(event) == "held" else "published"
    return {
        "version": event.version,
        "revision": event.revision,
        "status": status,
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
        "checks_version": p.checks_version,
        "check_failures": [f.model_dump(mode="json") for f in p.check_failures],
        "policy": p.policy.value if p.policy else None,
        "review": p.review.value if p.review else None,
        "reviewed_by": p.reviewed_by,
        "reviewed_at": p.reviewed_at,
    }


class ArticleStore:
    def __init__(self, db: Database) -> None:
        self.articles = db[ARTICLES.name]
        self.versions = db[VERSIONS.name]
        self.embargoes = db[EMBARGOES.name]
        self.reviews = db[REVIEWS.name]
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
        # In order, stopping at the first clash: a later version of an article whose earlier
        # one clashed must not be stored, or planning again would adopt it out of its order.
        await _insert(self.versions, docs, ordered=True)

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

    async def record_translations(self, events: Iterable[TranslatedArticle]) -> None:
        """Remember, on the heads, the newest translation reported for each language, and keep
        the review queue in step with them: one read of the heads and one of the queue for
        the lot, one update per article (its languages together). Re-applying an event
        changes nothing."""
        latest: dict[tuple[str, str], TranslatedArticle] = {}
        for e in events:
            seen = latest.get((e.article_id, e.language))
            if seen is None or (seen.version, seen.revision) <= (e.version, e.revision):
                latest[(e.article_id, e.language)] = e
        heads = await find_by_ids(self.articles, [aid for aid, _ in latest], {"languages": 1})
        queued = await find_by_ids(self.reviews, [review_id(*k) for k in latest])
        changes: dict[str, dict[str, Any]] = {}
        for (article_id, language), event in latest.items():
            head = heads.get(article_id)
            known = ((head or {}).get("languages") or {}).get(language)
            if known and (known["version"], known.get("revision", 0)) > (
                event.version,
                event.revision,
            ):
                continue
            # The queue first: once the article says "held", the queue already lists it.
            # Without a head yet (it is saved just after the announcement) the queue entry is
            # still written: a held translation must never go unseen.
            await self.sync_review(event, queued.get(review_id(article_id, language)))
            if head is not None:
                changes.setdefault(article_id, {})[f"languages.{language}"] = language_state(event)
        for article_id, fields in changes.items():
            await self.articles.update_one({"_id": article_id}, {"$set": fields})

    async def sync_review(self, event: TranslatedArticle, found: Document | None) -> None:
        """Queue the translation if an editor should see it, else take its language out;
        ``found``: what the queue holds for its article and language."""
        _id = review_id(event.article_id, event.language)
        kind = review_kind(event)
        if found:
            queued, this = (found["version"], found["revision"]), (event.version, event.revision)
            if queued > this or (queued == this and kind is not None):
                return  # an older event, or the same again: keep what an editor did about it
        if kind is None:
            if found:
                await self.reviews.delete_one({"_id": _id})
            return
        entry = QueuedTranslation(
            article_id=event.article_id,
            language=event.language,
            publisher=event.publisher,
            version=event.version,
            revision=event.revision,
            kind=kind,
            translation=event,
            queued_at=event.provenance.translated_at,
        )
        await self.reviews.replace_one({"_id": _id}, entry.document(), upsert=True)

    async def review_queue(
        self, publisher: str, language: str | None = None, limit: int = 500
    ) -> list[QueuedTranslation]:
        """The publisher's queue, the newest first (a scan of a small collection)."""
        query: dict[str, Any] = {"publisher": publisher}
        if language:
            query["language"] = language
        cursor = (
            self.reviews.find(query)
            .sort([("queued_at", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [QueuedTranslation.model_validate(d) async for d in cursor]

    async def headlines(self, article_ids: Iterable[str]) -> dict[str, str]:
        """The latest source headline of each article (point reads of the heads)."""
        ids = sorted(set(article_ids))
        docs = await asyncio.gather(*(self._find(self.articles, i) for i in ids))
        return {i: d["headline"] for i, d in zip(ids, docs, strict=True) if d and d.get("headline")}

    async def review_count(self, publisher: str) -> int:
        """How many entries of the publisher still wait for an editor's decision."""
        cursor = self.reviews.find({"publisher": publisher}, {"step": 1})
        return len([d async for d in cursor if not d.get("step")])

    async def queued(self, article_id: str, language: str) -> QueuedTranslation | None:
        doc = await self._find(self.reviews, review_id(article_id, language))
        return QueuedTranslation.model_validate(doc) if doc else None

    async def mark_step(
        self, entry: QueuedTranslation, step: ReviewStep, by: str
    ) -> QueuedTranslation:
        """Note what an editor did (the event that settles the entry follows on Kafka)."""
        done = entry.model_copy(update={"step": step, "step_by": by, "step_at": utcnow()})
        await self.reviews.update_one(
            {"_id": review_id(entry.article_id, entry.language), "revision": entry.revision},
            {"$set": {"step": step, "step_by": by, "step_at": done.step_at}},
        )
        return done
