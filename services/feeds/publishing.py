"""Publishing an entry: into the feeds that carry it, and their documents kept in step.

An entry change is stored, appended to each feed that carries it (services/feeds/routing.py
says which), the feed's subscription document is rendered again (services/feeds/documents.py;
when: services/feeds/scheduling.py), and WebSub subscribers are told. ``Feeds`` is the
one object the rest of the service holds.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from services.feeds.documents import EAGER, FeedDocuments, document_key
from services.feeds.entries import FeedEntry
from services.feeds.render import FORMATS, Format
from services.feeds.routing import PATHS, FeedRef, FeedRoutes, FeedUrls, Kind
from services.feeds.scheduling import RenderScheduler
from services.feeds.store import FeedStore, Put, Rendered, StoredEntry
from shared.contracts import ArticleStatus
from shared.observability import article_context
from shared.registry import Registry

__all__ = ["EAGER", "FeedRef", "Feeds", "Kind", "Notify"]

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[Any]]


class Feeds:
    def __init__(
        self,
        store: FeedStore,
        registry: Registry,
        public_url: str,
        hub_url: str | None = None,
        notify: Notify | None = None,
        render_delay: float = 0.0,
        links_delay: float = 1.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.notify = notify
        self.urls = FeedUrls(public_url.rstrip("/"))
        self.routes = FeedRoutes(registry)
        self.documents = FeedDocuments(store, registry, self.urls, hub_url)
        self.scheduler = RenderScheduler(self.due, render_delay, links_delay)
        # Called with the keys of documents that changed: the HTTP cache forgets its copies.
        self.on_change: list[Callable[[list[str]], None]] = []
        # Whether the public feeds are fediverse accounts too (services/feeds/activitypub).
        self.fediverse = False
        # Called with each feed announced: the fediverse actors plan their deliveries.
        self.on_announce: list[Callable[[FeedRef], Awaitable[Any]]] = []
        self._announced: dict[str, int] = {}  # feed id: the head catch_up last saw
        # Per feed, held while a request brings its documents up to date (see rendered).
        self._rendering: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def public_url(self) -> str:
        return self.urls.public_url

    @property
    def hub_url(self) -> str | None:
        return self.documents.hub_url

    @hub_url.setter
    def hub_url(self, value: str | None) -> None:
        self.documents.hub_url = value

    # ------------------------------------------------------------------ URLs and feeds

    def url(self, feed: FeedRef, fmt: str) -> str:
        return self.urls.url(feed, fmt)

    def archive_base(self, feed: FeedRef, page: int) -> str:
        return self.urls.archive_base(feed, page)

    def permalink(self, article_id: str, language: str) -> str:
        return self.urls.permalink(article_id, language)

    def parse_topic(self, url: str) -> tuple[FeedRef, Format] | None:
        return self.urls.parse_topic(url)

    async def feed_languages(self, kind: Kind, key: str) -> list[str] | None:
        return await self.routes.feed_languages(kind, key)

    async def feeds_for(self, entry: FeedEntry) -> list[FeedRef]:
        return await self.routes.feeds_for(entry)

    # ------------------------------------------------------------------ changes

    async def add(self, entry: FeedEntry) -> None:
        """:meth:`add_many` of one entry."""
        await self.add_many([entry])

    async def add_many(self, entries: Sequence[FeedEntry]) -> None:
        """Store the entries, append the latest version of each to every feed that carries it
        (once per feed and version, also across redeliveries), re-render those feeds (once per
        batch) and notify WebSub. Re-render even when nothing was new: a crash may have come
        before the render."""
        named = [replace(e, publisher_name=await self._publisher_name(e)) for e in entries]
        puts = [put for put in await self.store.put_entries(named) if put.stored is not None]
        stored = [put.stored for put in puts if put.stored is not None]
        # The feeds of the version stored, which may be a later one than this batch's.
        routes = [await self.routes.feeds_for(s.entry) for s in stored]
        appended = await self.store.add_to_feeds(
            [(s, [feed.id for feed in feeds]) for s, feeds in zip(stored, routes, strict=True)]
        )
        changed: dict[FeedRef, None] = {}
        for entry, feeds, done in zip(stored, routes, appended, strict=True):
            for feed in feeds:
                if entry.entry.withdrawn and feed.id in done:
                    self._forget(feed, await self.documents.redact(feed, entry.pages_in(feed.id)))
                changed[feed] = None
        for feed in changed:
            await self.changed(feed)
        await self._languages_changed([p for p in puts if _language_changed(p)])
        for put in puts:
            assert put.stored is not None
            e = put.stored.entry
            with article_context(article_id=e.article_id, version=e.version, language=e.language):
                log.info("entry stored" if put.changed else "entry already stored")

    async def _publisher_name(self, entry: FeedEntry) -> str:
        pub = await self.registry.publisher(entry.publisher)
        return pub.name if pub else entry.publisher

    async def backfill(self, stored: StoredEntry) -> set[FeedRef]:
        """Append a stored entry to the feeds that carry it but have not got this version (a
        feed added to the registry later, or data from before feed logs); the feeds changed."""
        feeds = {feed.id: feed for feed in await self.routes.feeds_for(stored.entry)}
        (appended,) = await self.store.add_to_feeds([(stored, list(feeds))])
        return {feeds[feed_id] for feed_id in appended}

    async def _languages_changed(self, puts: Sequence[Put]) -> None:
        """A language appeared or was withdrawn: the other languages' entries link to it, so
        their feeds are rendered again (links only). The languages are read again: one stored
        concurrently (an original and its translation come on two topics) may have read
        ``languages_before`` without this one. A sibling's feeds are those of this entry in
        the sibling's language (same publisher and subjects): no entry is read for them."""
        if not puts:
            return
        now = await self.store.languages(p.stored.entry.article_id for p in puts if p.stored)
        links: dict[FeedRef, None] = {}
        for put in puts:
            assert put.stored is not None
            entry = put.stored.entry
            languages = {**put.languages_before, **now.get(entry.article_id, {})}
            for other, status in languages.items():
                if other != entry.language and status == ArticleStatus.ACTIVE.value:
                    for feed in await self.routes.feeds_for(replace(entry, language=other)):
                        links[feed] = None
        for feed in links:
            await self.changed(feed, links_only=True)

    # ------------------------------------------------------------------ rendering

    async def changed(self, feed: FeedRef, *, links_only: bool = False) -> None:
        """The feed's log changed, or (``links_only``) what its entries link to: this replica
        forgets its copies at once (``on_change``), and :meth:`due` follows (see
        :meth:`RenderScheduler.changed` for when). The render itself waits for a reader."""
        if not links_only:
            self._forget(feed)
        await self.scheduler.changed(feed, links_only=links_only)

    async def due(self, feed: FeedRef, links_only: bool) -> None:
        """Act on a feed's changes: a render that only its links outdated is marked so (the
        log did not move on), then WebSub is told, whose hub reads (and so renders) the feed
        when it has subscribers."""
        if links_only:
            await self.store.new_links(feed.id)  # first: a render in flight sees it (render)
            await self.store.outdate(document_key(feed, EAGER))
            self._forget(feed)
        await self.announce(feed)

    def _forget(self, feed: FeedRef, keys: Iterable[str] = ()) -> None:
        """Tell ``on_change`` that the subscription documents of ``feed`` (or ``keys``)
        changed."""
        changed = list(keys) or [document_key(feed, fmt) for fmt in FORMATS]
        for hook in self.on_change:
            hook(changed)

    async def announce(self, feed: FeedRef) -> None:
        """Tell WebSub about every format of ``feed``, and ``on_announce``."""
        for hook in self.on_announce:
            try:
                await hook(feed)
            except Exception:  # the fediverse's problems are its own, never the feed's
                log.exception("announcing to the fediverse failed", extra={"feed": feed.id})
        if self.notify is None:
            return
        for fmt in FORMATS:
            try:
                await self.notify(self.url(feed, fmt))
            except Exception:  # delivery problems are the hub's to retry, never the feed's
                log.exception("WebSub notification failed", extra={"feed": feed.id})

    async def flush(self) -> None:
        """Act on everything scheduled now and wait until done (on shutdown; bound it with a
        timeout)."""
        await self.scheduler.flush()

    async def stop(self) -> None:
        await self.scheduler.stop()

    async def catch_up(self) -> int:
        """Announce every feed whose rendering is behind its log and was not announced at this
        head by this replica (after a crash between appending and announcing, here or on
        another replica); how many."""
        behind = 0
        for feed_id in await self.store.feed_ids():
            kind, key, language = feed_id.split("/", 2)
            if kind not in PATHS:
                continue
            head = await self.store.head(feed_id)
            if self._announced.get(feed_id) == head:
                continue
            rendered = await self.store.rendered_version(f"{feed_id}.{EAGER}")
            if rendered is None or rendered[0] < head:
                await self.changed(FeedRef(kind, key, language))  # type: ignore[arg-type]
                behind += 1
            self._announced[feed_id] = head
        return behind

    async def refresh(self, feed: FeedRef) -> None:
        """Render the subscription document of ``feed`` now and tell WebSub (the command line's
        backfill)."""
        await self.render(feed)
        await self.announce(feed)

    async def render(self, feed: FeedRef, seq: int | None = None) -> None:
        """Render and store the Atom document of the log up to ``seq`` (its head by default).
        Two replicas may render at once and the older render land last: its sequence number
        is then behind the head, so the next request renders again. A links change while it
        rendered (which this render may have read too early) leaves it outdated likewise."""
        links = await self.store.links_token(feed.id)
        await self.documents.render_current(
            feed, await self.store.head(feed.id) if seq is None else seq, EAGER
        )
        if await self.store.links_token(feed.id) != links:
            await self.store.outdate(document_key(feed, EAGER))

    async def rendered(self, feed: FeedRef, fmt: Format) -> Rendered | None:
        """The subscription document, rendered on request when its log has moved on since the
        stored render, or what its entries link to changed: a feed no one reads costs no
        render, and a burst of changes costs one render per reader's request. Atom first; RSS
        and JSON Feed are rendered after it, marked with the Atom ETag they go with."""
        lock = self._rendering.get(feed.id)
        if lock is None:
            lock = self._rendering[feed.id] = asyncio.Lock()
        # One request of a feed renders at a time in this replica: a poller and a reader of
        # another format arriving together after a change cost one Atom render, not two;
        # the one that waited finds the render stored.
        async with lock:
            eager = document_key(feed, EAGER)
            atom = await self.store.rendered_version(eager)
            head = await self.store.head(feed.id)
            if atom is None or atom[0] < head:
                await self.render(feed, head)
                atom = await self.store.rendered_version(eager)
            if fmt == EAGER:
                return await self.store.get_rendered(eager)
            key = document_key(feed, fmt)
            found = await self.store.get_rendered(key)
            source = atom[1] if atom else None
            if found is None or (source is not None and found.source != source):
                await self.documents.render_current(feed, head, fmt, source)
                found = await self.store.get_rendered(key)
            return found

    async def archive(self, feed: FeedRef, page: int, fmt: Format) -> Rendered | None:
        """An archive document, or ``None`` when ``page`` is not archived (yet)."""
        return await self.documents.archive(feed, page, fmt)


def _language_changed(put: Put) -> bool:
    """Whether storing ``put`` made its language appear, or changed its status."""
    entry = put.stored.entry if put.stored is not None else None
    return entry is not None and put.languages_before.get(entry.language) != entry.status.value
