"""Feed state in MongoDB: the latest version of every entry, an append-only log per feed cut
into pages, and the rendered documents.

Every change to an entry (a new article, a correction, a translation, a withdrawal) is appended
to the log of each feed that carries it, under the feed's next sequence number; each item is its
own document. Page ``n`` holds sequence numbers ``n*size+1 .. (n+1)*size``. The subscription
document shows the last two pages; older pages are RFC 5005 archive documents, which never
change except to redact an entry that was withdrawn later. Readers reconcile by entry id and
``updated``, as RFC 5005 says, so a correction simply appears again, newer, at the head of the
log.

FerretDB 1.24 (SQLite) serves only filters with a top-level ``_id`` equality from an index (and
stock 1.24 only a filter that is nothing but ``{"_id": value}``; deploy/local/stack.py patches
that), so every hot read and write here is by ``_id``, and correctness never rests on an update
being atomic: FerretDB applies ``$set``/``$inc`` as read, change, write back, so concurrent
updates of one document can lose one another. Log items are inserted (atomic); a render is done
again when the head moved on while it ran. The patch also serves ``{_id: {$in: [...]}}`` from
the index, so the store works in batches: a batch of entries is one read of the entries, one of
their articles, one bulk write of each, and one insert per feed into the logs (make
bench-import counts the commands).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bson import BSON, Binary
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from services.feeds.entries import EntryImage, FeedEntry, entry_key
from shared.contracts import ArticleStatus, utcnow
from shared.storage import DUPLICATE_KEY, Collection, Database, find_by_ids, insert_new

ENTRIES = Collection("feed_entries")
ARTICLES = Collection("feed_articles")
FEED_STATE = Collection("feed_state")
LOG = Collection("feed_log")  # one document per item: _id "feed#seq"
RENDERED = Collection("rendered_feeds")
# The sequence number and ETag of each stored render, apart from its body: a cached document is
# revalidated against this (FerretDB parses a whole document even for a projection, so reading
# the ETag out of a 60 KB render costs almost as much as reading the render).
VERSIONS = Collection("rendered_versions")
COLLECTIONS = (ENTRIES, ARTICLES, FEED_STATE, LOG, RENDERED, VERSIONS)
COMMAND_BYTES = 4 * 1024 * 1024  # an update command is cut after this much (the limit is 16 MB)
# And after this many statements: FerretDB 1.24 keeps each statement's SQLite connection until the
# whole command returns (msg_update.go defers every iterator's Close), from a pool of 100 per
# database, so a command of 100 statements, or a few large ones at once, waits forever for a
# connection (seen at 60 statements beside 55 readers; make bench-e2e).
STATEMENTS_PER_COMMAND = 16
# One statement of an ``update`` command: filter and update.
Update = tuple[Mapping[str, Any], Mapping[str, Any]]
# Log items kept in memory (the most recently rendered; a few KB each): two pages of every feed
# rendered lately, so re-rendering a feed reads only its new items.
LOG_CACHE_ITEMS = 4096


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    etag: str
    last_modified: datetime
    source: str | None = None  # a format rendered on demand: the Atom ETag it goes with


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored, with the bookkeeping of the feeds it was appended to."""

    entry: FeedEntry
    # By feed (its id as a field name): the stamp of the version last appended, and the log
    # pages the entry was appended on (a withdrawal redacts the archives among them).
    appended: Mapping[str, str] = field(default_factory=dict)
    pages: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def appended_to(self, feed: str) -> str | None:
        return self.appended.get(_field(feed))

    def pages_in(self, feed: str) -> tuple[int, ...]:
        return self.pages.get(_field(feed), ())


@dataclass(frozen=True)
class Put:
    """What storing an entry found: the entry now stored (``None`` only if it vanished
    meanwhile), whether this call changed it, and the article's languages with their status
    from before the call."""

    stored: StoredEntry | None
    changed: bool
    languages_before: Mapping[str, str]


class FeedStore:
    def __init__(self, db: Database, page_size: int = 50) -> None:
        self.entries = db[ENTRIES.name]
        self.articles = db[ARTICLES.name]
        self.state = db[FEED_STATE.name]
        self.log = db[LOG.name]
        self.rendered = db[RENDERED.name]
        self.versions = db[VERSIONS.name]
        self.page_size = page_size
        self._writing = asyncio.Lock()
        self._log_items: OrderedDict[str, tuple[int, FeedEntry]] = OrderedDict()  # by _id: seq

    # ------------------------------------------------------------------ entries

    async def put_entry(self, entry: FeedEntry) -> Put:
        """:meth:`put_entries` of one entry."""
        return (await self.put_entries([entry]))[0]

    async def put_entries(self, entries: Sequence[FeedEntry]) -> list[Put]:
        """Store each entry unless the same or a later version is stored, and read back the one
        stored, with the article's languages from before (a language that appears or is
        withdrawn changes what the other languages' entries link to). One ``Put`` per entry
        key, in first-seen order: of several versions of one key in ``entries``, the latest is
        stored (the feeds show an entry at its latest version; the others are superseded)."""
        latest: dict[str, FeedEntry] = {}
        for entry in entries:
            seen = latest.get(entry.key)
            if seen is None or _order(entry) > _order(seen):
                latest[entry.key] = entry
        before = await self.languages(e.article_id for e in latest.values())
        docs = await find_by_ids(self.entries, list(latest))
        newer = [
            e for k, e in latest.items() if k not in docs or _order(e) > _stored_order(docs[k])
        ]
        written = await self._write_entries(newer, docs)
        await self._record_languages([latest[key] for key in written], set(before))
        puts = []
        for key, entry in latest.items():
            doc = docs.get(key)
            if key in written:
                old = _stored(doc) if doc is not None else StoredEntry(entry)
                stored: StoredEntry | None = replace(old, entry=entry)
            else:
                stored = None if doc is None else _stored(doc)
            puts.append(Put(stored, key in written, before.get(entry.article_id, {})))
        return puts

    async def _write_entries(
        self, entries: Sequence[FeedEntry], docs: dict[str, dict[str, Any]]
    ) -> set[str]:
        """Write the entries newer than their stored ``docs`` (an insert for a new one, an
        update for the others); the keys written. ``docs`` is brought up to date for those a
        concurrent writer got to first. The update's compound filter keeps two replicas from
        overwriting a newer version with an older one; it starts with ``_id``, so it is a point
        read. FerretDB stops an unordered bulk upsert at its first duplicate key and reports
        the wrong index, so no statement here can meet one: new entries go in by an ordered
        insert, which does report where it stopped."""
        now = utcnow()
        fresh = [e for e in entries if e.key not in docs]
        taken = await insert_new(
            self.entries, [{"_id": e.key, **_document(e), "stored_at": now} for e in fresh]
        )
        updates = [e for e in entries if e.key in docs or e.key in taken]
        modified = await _update(
            self.entries,
            [
                (
                    {
                        "_id": e.key,
                        "$or": [
                            {"version": {"$lt": e.version}},
                            {"version": e.version, "revision": {"$lt": e.revision}},
                        ],
                    },
                    {"$set": {**_document(e), "stored_at": now}},
                )
                for e in updates
            ],
        )
        written = {e.key for e in entries}
        if modified < len(updates):  # someone stored a version meanwhile: which is stored?
            docs.update(await find_by_ids(self.entries, [e.key for e in updates]))
            written -= {e.key for e in updates if _stored_order(docs[e.key]) != _order(e)}
        return written

    async def _record_languages(self, entries: Sequence[FeedEntry], known: set[str]) -> None:
        """Note each written entry's version and status in its article's languages: one update
        per article already ``known``, one insert of the others."""
        fields: dict[str, dict[str, dict[str, Any]]] = {}
        for e in entries:
            fields.setdefault(e.article_id, {})[e.language] = {
                "version": e.version,
                "status": e.status.value,
            }
        fresh = {aid: langs for aid, langs in fields.items() if aid not in known}
        taken = await insert_new(
            self.articles, [{"_id": aid, "languages": langs} for aid, langs in fresh.items()]
        )
        await _update(
            self.articles,
            [
                (
                    {"_id": aid},
                    {"$set": {f"languages.{lang}": v for lang, v in langs.items()}},
                )
                for aid, langs in fields.items()
                if aid in known or aid in taken
            ],
        )

    async def upsert_entry(self, entry: FeedEntry) -> bool:
        """Store an entry unless the same or a later (version, revision) is stored; True if
        changed. A revision orders events within a version (a human translation after the
        machine one)."""
        return (await self.put_entry(entry)).changed

    async def stored(self, article_id: str, language: str) -> StoredEntry | None:
        doc = await self.entry(article_id, language)
        return None if doc is None else _stored(doc)

    async def all_entries(self) -> list[StoredEntry]:
        """Every stored entry, oldest first (a full scan: for maintenance, never a hot path)."""
        docs = [d async for d in self.entries.find({})]
        docs.sort(key=lambda d: (d["updated"], d["_id"]))
        return [_stored(d) for d in docs]

    async def entry(self, article_id: str, language: str) -> dict[str, Any] | None:
        """The stored document, as the entry pages read it (services/feeds/http.py); the feeds
        read :meth:`stored`."""
        return await self.entries.find_one({"_id": entry_key(article_id, language)})

    async def languages(self, article_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Per article, its languages and their status (``active`` or ``withdrawn``)."""
        docs = await find_by_ids(self.articles, list(dict.fromkeys(article_ids)))
        return {
            aid: {lang: str(v.get("status", "active")) for lang, v in d["languages"].items()}
            for aid, d in docs.items()
        }

    async def statuses(self, keys: Iterable[str]) -> dict[str, ArticleStatus]:
        """Current status of entries by ``article:language`` key."""
        docs = await find_by_ids(self.entries, list(dict.fromkeys(keys)), {"status": 1})
        return {key: ArticleStatus(d["status"]) for key, d in docs.items()}

    # ------------------------------------------------------------------ feed logs

    def page_of(self, seq: int) -> int:
        return (seq - 1) // self.page_size

    async def add_to_feeds(
        self, placements: Sequence[tuple[StoredEntry, Sequence[str]]]
    ) -> list[list[str]]:
        """Append the stored version of each entry to each of its feeds that has not got it yet
        (once per feed and version, also across redeliveries), noting the page it went on; per
        placement, the feeds it was appended to. One insert per feed, then one bulk write of
        the notes: a crash between the two appends again on redelivery, which readers
        reconcile (the same entry id and ``updated``, RFC 5005)."""
        by_feed: dict[str, list[int]] = {}
        for i, (stored, feeds) in enumerate(placements):
            for feed in feeds:
                if stored.appended_to(feed) != stored.entry.stamp:
                    by_feed.setdefault(feed, []).append(i)
        hints = await self._hints(list(by_feed))
        appended: list[list[str]] = [[] for _ in placements]
        notes: dict[str, dict[str, dict[str, Any]]] = {}
        for feed, members in by_feed.items():
            items = [_document(placements[i][0].entry) for i in members]
            seqs = await self.append_many(feed, items, hints.get(feed, 0))
            for i, seq in zip(members, seqs, strict=True):
                entry = placements[i][0].entry
                note = notes.setdefault(entry.key, {"$set": {}, "$addToSet": {}})
                note["$set"][f"appended.{_field(feed)}"] = entry.stamp
                note["$addToSet"][f"pages.{_field(feed)}"] = self.page_of(seq)
                appended[i].append(feed)
        if notes:
            await _update(self.entries, [({"_id": k}, u) for k, u in notes.items()])
        return appended

    async def append_many(
        self, feed: str, items: Sequence[Mapping[str, Any]], hint: int
    ) -> list[int]:
        """Append ``items`` to the feed's log, in order; their sequence numbers.

        Each item is inserted under ``_id = feed#seq``: the insert is the claim on the number
        (inserts by ``_id`` are atomic on FerretDB too, unlike ``$inc``), so two replicas never
        take the same number, and a crash leaves no gap. ``hint``, the counter in
        ``feed_state``, is only where to start: a number found taken (a stale counter, another
        replica) moves the rest of the items on by one.
        """
        seqs: list[int] = []
        seq = await self._free_after(feed, hint)
        rest = list(items)
        while rest:
            docs = [
                {**item, "_id": f"{feed}#{seq + n}", "seq": seq + n} for n, item in enumerate(rest)
            ]
            try:
                await self.log.insert_many(docs, ordered=True)
                done = len(rest)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors") or []
                if not errors or errors[0].get("code") != DUPLICATE_KEY:
                    raise
                done = int(errors[0]["index"])
            seqs += range(seq, seq + done)
            rest = rest[done:]
            if rest:  # seq + done was taken meanwhile (another replica)
                seq = await self._free_after(feed, seq + done)
        if seqs:
            await self.state.update_one({"_id": feed}, {"$max": {"seq": seqs[-1]}}, upsert=True)
        return seqs

    async def _free_after(self, feed: str, taken: int) -> int:
        """The first free sequence number after ``taken`` (0, or a number taken). The log has
        no gaps, so: forward in doubling steps while taken, then bisect, each step a read of
        one ``_id``. Another replica may have appended many items since the counter was
        written; an insert of the whole batch per number taken would cost far more."""
        low, step = taken, 1  # low: taken (or 0)
        while await self._taken(feed, low + step):
            low, step = low + step, step * 2
        high = low + step  # free
        while high - low > 1:
            middle = (low + high) // 2
            if await self._taken(feed, middle):
                low = middle
            else:
                high = middle
        return high

    async def _taken(self, feed: str, seq: int) -> bool:
        return await self.log.find_one({"_id": f"{feed}#{seq}"}, {"_id": 1}) is not None

    async def _hints(self, feeds: Sequence[str]) -> dict[str, int]:
        """The last sequence number noted in ``feed_state`` per feed (may lag the log)."""
        docs = await find_by_ids(self.state, list(feeds))
        return {feed: int(doc.get("seq", 0)) for feed, doc in docs.items()}

    async def head(self, feed: str) -> int:
        """The feed's last sequence number (0 when nothing was ever appended): the hint, then
        the last number taken after it (one read when the hint is current)."""
        state = await self.state.find_one({"_id": feed})
        return await self._free_after(feed, int(state["seq"]) if state else 0) - 1

    async def log_item(self, feed: str, seq: int) -> FeedEntry | None:
        """One item of a feed's log (what was appended as number ``seq``)."""
        doc = await self.log.find_one({"_id": f"{feed}#{seq}"})
        return None if doc is None else _entry(doc)

    async def page_items(self, feed: str, pages: Iterable[int], head: int) -> list[FeedEntry]:
        """Items of the given pages up to ``head``, newest first. Log items never change once
        inserted, so those read before come from memory: a render reads only the new ones."""
        ids = [
            f"{feed}#{n}"
            for p in pages
            if p >= 0
            for n in range(p * self.page_size + 1, min((p + 1) * self.page_size, head) + 1)
        ]
        cache = self._log_items
        missing = [i for i in ids if i not in cache]
        for _id, doc in (await find_by_ids(self.log, missing)).items():
            cache[_id] = (int(doc["seq"]), _entry(doc))
        items = []
        for i in ids:
            if (item := cache.get(i)) is not None:
                cache.move_to_end(i)
                items.append(item)
        while len(cache) > LOG_CACHE_ITEMS:
            cache.popitem(last=False)
        return [entry for _, entry in sorted(items, key=lambda i: i[0], reverse=True)]

    # ------------------------------------------------------------------ rendered documents

    async def save_rendered(
        self,
        key: str,
        seq: int,
        body: bytes,
        media_type: str,
        updated: datetime,
        source: str | None = None,
    ) -> None:
        """Store a render of the log up to ``seq``, then its version (in that order: a reader
        that sees the new version finds the new body). Two renders may race and the older may
        land last; :meth:`Feeds.refresh` renders again when the head moved on meanwhile."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        async with self._writing:  # one large write at a time: see scheduling.RENDERS_AT_ONCE
            await self.rendered.replace_one(
                {"_id": key},
                {
                    "seq": seq,
                    "body": Binary(body),
                    "media_type": media_type,
                    "etag": etag,
                    "last_modified": updated,
                    "source": source,
                },
                upsert=True,
            )
            await self.versions.replace_one({"_id": key}, {"seq": seq, "etag": etag}, upsert=True)

    async def rendered_version(self, key: str) -> tuple[int, str] | None:
        """The sequence number and ETag of a stored render (a small document of its own).
        ``None`` also for a render stored before versions were (catch-up renders it again)."""
        doc = await self.versions.find_one({"_id": key})
        return None if doc is None else (int(doc.get("seq", 0)), str(doc["etag"]))

    async def outdate(self, key: str) -> None:
        """Mark a stored render as behind its log (what its entries link to changed), so that
        the next request renders it again."""
        await self.versions.update_one({"_id": key}, {"$set": {"seq": -1}})

    async def new_links(self, feed: str) -> None:
        """Note that what the feed's entries link to changed: a new token, which a render in
        flight finds changed when it ends (``Feeds.render``). A whole-document write of its own,
        so no concurrent update can lose it."""
        doc = {"token": uuid.uuid4().hex}
        try:
            await self.versions.replace_one({"_id": f"{feed}.links"}, doc, upsert=True)
        except DuplicateKeyError:  # another replica created it meanwhile: replace that one
            await self.versions.replace_one({"_id": f"{feed}.links"}, doc)

    async def links_token(self, feed: str) -> str | None:
        doc = await self.versions.find_one({"_id": f"{feed}.links"})
        return None if doc is None else str(doc["token"])

    async def is_current(self, key: str, feed: str, etag: str) -> bool:
        """Whether the render ``key`` still has ``etag`` and is not behind the feed's log (as
        far as its counter says: a crash may leave that behind, ``Feeds.catch_up``)."""
        version = await self.versions.find_one({"_id": key})
        if version is None or version["etag"] != etag:
            return False
        state = await self.state.find_one({"_id": feed})
        return int(version.get("seq", 0)) >= (int(state["seq"]) if state else 0)

    async def feed_ids(self) -> list[str]:
        """Every feed that has a log (a scan of ``feed_state``: one small document per feed)."""
        return [d["_id"] async for d in self.state.find({}, {"_id": 1})]

    async def get_rendered(self, key: str) -> Rendered | None:
        doc = await self.rendered.find_one({"_id": key})
        if doc is None:
            return None
        return Rendered(
            bytes(doc["body"]),
            doc["media_type"],
            doc["etag"],
            doc["last_modified"],
            doc.get("source"),
        )

    async def drop_rendered(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self.versions.delete_one({"_id": key})
            await self.rendered.delete_one({"_id": key})


async def _update(coll: Any, updates: Sequence[Update]) -> int:
    """Run ``updates`` (no upserts) as unordered ``update`` commands of at most
    ``STATEMENTS_PER_COMMAND`` statements or about ``COMMAND_BYTES``; how many documents they
    modified. Sent as commands rather than by
    ``bulk_write``: FerretDB leaves ``nModified`` out of some replies, which PyMongo's bulk
    result cannot merge."""
    modified = 0
    start = 0
    while start < len(updates):
        chunk: list[dict[str, Any]] = []
        size = 0
        while (
            start + len(chunk) < len(updates)
            and size < COMMAND_BYTES
            and len(chunk) < STATEMENTS_PER_COMMAND
        ):
            q, u = updates[start + len(chunk)]
            statement = {"q": q, "u": u}
            size += len(BSON.encode(statement))
            chunk.append(statement)
        reply = await coll.database.command(
            {"update": coll.name, "updates": chunk, "ordered": False}
        )
        if errors := reply.get("writeErrors"):
            raise WriteError(errors[0].get("errmsg", "write error"), errors[0].get("code"), reply)
        modified += int(reply.get("nModified", 0))
        start += len(chunk)
    return modified


def _order(entry: FeedEntry) -> tuple[int, int]:
    return entry.version, entry.revision


def _stored_order(doc: Mapping[str, Any]) -> tuple[int, int]:
    return int(doc["version"]), int(doc.get("revision") or 0)


def _field(feed: str) -> str:
    """A feed key as a field name (no dots: they would be read as a path)."""
    return feed.replace(".", "_")


# ---------------------------------------------------------------------- the entry's document


def _document(entry: FeedEntry) -> dict[str, Any]:
    """An entry as stored in ``feed_entries`` (with its bookkeeping added there) and in the
    feed logs."""
    return {
        "article_id": entry.article_id,
        "version": entry.version,
        "status": entry.status.value,
        "publisher": entry.publisher,
        "language": entry.language,
        "headline": entry.headline,
        "body_html": entry.body_html,
        "url": entry.url,
        "subjects": list(entry.subjects),
        "byline": entry.byline,
        "images": [
            {
                "url": i.url,
                "caption": i.caption,
                "credit": i.credit,
                "media_type": i.media_type,
                "width": i.width,
                "height": i.height,
            }
            for i in entry.images
        ],
        "published": entry.published,
        "revision": entry.revision,
        "source_language": entry.source_language,
        "updated": entry.updated,
        "provenance": None if entry.provenance is None else dict(entry.provenance),
        "publisher_name": entry.publisher_name,
    }


def _stored(doc: Mapping[str, Any]) -> StoredEntry:
    pages = {feed: tuple(int(p) for p in ps) for feed, ps in (doc.get("pages") or {}).items()}
    return StoredEntry(_entry(doc), dict(doc.get("appended") or {}), pages)


def _entry(doc: Mapping[str, Any]) -> FeedEntry:
    """An entry from its stored document: the optional fields may be missing in documents from
    before they were kept, and images without a URL are left out."""
    return FeedEntry(
        article_id=doc["article_id"],
        language=doc["language"],
        version=int(doc["version"]),
        revision=int(doc.get("revision") or 0),
        status=ArticleStatus(doc["status"]),
        publisher=doc["publisher"],
        headline=doc["headline"],
        body_html=doc["body_html"],
        published=doc["published"],
        updated=doc["updated"],
        source_language=doc.get("source_language"),
        url=doc.get("url"),
        subjects=tuple(doc.get("subjects") or ()),
        byline=doc.get("byline"),
        images=tuple(
            EntryImage(
                url=i["url"],
                caption=i.get("caption"),
                credit=i.get("credit"),
                media_type=i.get("media_type") or i.get("type"),
                width=i.get("width"),
                height=i.get("height"),
            )
            for i in doc.get("images") or ()
            if i.get("url")
        ),
        provenance=doc.get("provenance"),
        publisher_name=doc.get("publisher_name") or "",
    )
