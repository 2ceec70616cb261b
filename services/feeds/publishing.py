"""Publishing an entry: into the feeds that carry it, and their documents kept in step.

An entry change is stored, appended to each feed that carries it (services/feeds/routing.py
says which), the feed's subscription document is rendered again (services/feeds/documents.py;
when: services/feeds/scheduling.py), and WebSub subscribers are told. ``Feeds`` is the
one object the rest of the service holds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from services.feeds.documents import EAGER, FeedDocuments, document_key
from services.feeds.entries import FeedEntry
from services.feeds.render import FORMATS, Format
from services.feeds.routing import PATHS, FeedRef, FeedRoutes, FeedUrls, Kind
from services.feeds.scheduling import RenderScheduler
from services.feeds.store import FeedStore, Rendered, StoredEntry
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
        self.scheduler = RenderScheduler(self.refresh, render_delay, links_delay)

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
        """Store the entry, append its latest version to every feed that carries it (once per
        feed and version, also across redeliveries), re-render those feeds and notify WebSub.
        Re-render even when nothing was new: a crash may have come before the render."""
        pub = await self.registry.publisher(entry.publisher)
        entry = replace(entry, publisher_name=pub.name if pub else entry.publisher)
        put = await self.store.put_entry(entry)
        if put.stored is None:
            return
        stored, current = put.stored, put.stored.entry
        feeds = await self.routes.feeds_for(current)  # of the version stored, maybe a later one
        appended = await self.store.add_to_feeds(stored, [feed.id for feed in feeds])
        for feed in feeds:
            if current.withdrawn and feed.id in appended:
                await self.documents.redact(feed, stored.pages_in(feed.id))
            await self.changed(feed)
        if put.languages_before.get(current.language) != current.status:
            # A language appeared or was withdrawn: the other languages' entries link to it.
            # Those stored by now, read again: one stored concurrently (an original and its
            # translation come on two topics) may have read ``before`` without this one.
            now = await self.store.languages([current.article_id])
            languages = {**put.languages_before, **now.get(current.article_id, {})}
            await self._refresh_siblings(current, languages)
        log.info("entry stored" if put.changed else "entry already stored; feeds refreshed")

    async def backfill(self, stored: StoredEntry) -> set[FeedRef]:
        """Append a stored entry to the feeds that carry it but have not got this version (a
        feed added to the registry later, or data from before feed logs); the feeds changed."""
        feeds = {feed.id: feed for feed in await self.routes.feeds_for(stored.entry)}
        appended = await self.store.add_to_feeds(stored, list(feeds))
        return {feeds[feed_id] for feed_id in appended}

    async def _refresh_siblings(self, entry: FeedEntry, languages: Mapping[str, str]) -> None:
        for other in languages:
            if other == entry.language:
                continue
            sibling = await self.store.stored(entry.article_id, other)
            if sibling is not None and not sibling.entry.withdrawn:
                for feed in await self.routes.feeds_for(sibling.entry):
                    await self.changed(feed, links_only=True)

    # ------------------------------------------------------------------ rendering

    async def changed(self, feed: FeedRef, *, links_only: bool = False) -> None:
        """The feed's log changed: render it (see :meth:`RenderScheduler.changed` for when)."""
        await self.scheduler.changed(feed, links_only=links_only)

    async def flush(self) -> None:
        """Render everything scheduled now and wait until done (on shutdown; bound it with a
        timeout)."""
        await self.scheduler.flush()

    async def stop(self) -> None:
        await self.scheduler.stop()

    async def catch_up(self) -> int:
        """Schedule every feed whose rendered document is behind its log (after a crash between
        appending and rendering, here or on another replica); how many."""
        behind = 0
        for feed_id in await self.store.feed_ids():
            kind, key, language = feed_id.split("/", 2)
            if kind not in PATHS:
                continue
            head = await self.store.head(feed_id)
            rendered = await self.store.rendered_version(f"{feed_id}.{EAGER}")
            if rendered is None or rendered[0] < head:
                await self.changed(FeedRef(kind, key, language))  # type: ignore[arg-type]
                behind += 1
        return behind

    async def refresh(self, feed: FeedRef) -> None:
        """Render the subscription document of ``feed`` (in Atom; the other formats follow on
        demand, see :meth:`rendered`), then tell WebSub about every format.
        When the log moved on during the render, the feed is rendered again (in the next round
        when renders are coalesced), so a slower, older render that landed last never stays
        (another replica may be rendering the same feed)."""
        seq = await self.store.head(feed.id)
        while True:
            await self.documents.render_current(feed, seq, EAGER)
            head = await self.store.head(feed.id)
            if head == seq:
                break
            if self.scheduler.render_delay > 0:  # under a stream of changes: once more later
                await self.changed(feed)
                break
            seq = head
        if self.notify is not None:
            for fmt in FORMATS:
                try:
                    await self.notify(self.url(feed, fmt))
                except Exception:  # delivery problems are the hub's to retry, never the feed's
                    log.exception("WebSub notification failed", extra={"feed": feed.id})

    async def rendered(self, feed: FeedRef, fmt: Format) -> Rendered | None:
        """The stored subscription document. Atom is rendered with every change to the feed;
        RSS and JSON Feed when first asked for after the Atom document changed (a format no one
        reads costs nothing), and marked with the Atom ETag they go with. A feed never rendered
        is rendered first."""
        key, eager = document_key(feed, fmt), document_key(feed, EAGER)
        found = await self.store.get_rendered(key)
        if fmt == EAGER:
            if found is None:
                await self.refresh(feed)
                found = await self.store.get_rendered(key)
            return found
        atom = await self.store.rendered_version(eager)
        if atom is None and found is None:
            await self.refresh(feed)
            atom = await self.store.rendered_version(eager)
        source = atom[1] if atom else None
        if found is None or (source is not None and found.source != source):
            seq = await self.store.head(feed.id)
            await self.documents.render_current(feed, seq, fmt, source)
            found = await self.store.get_rendered(key)
        return found

    async def archive(self, feed: FeedRef, page: int, fmt: Format) -> Rendered | None:
        """An archive document, or ``None`` when ``page`` is not archived (yet)."""
        return await self.documents.archive(feed, page, fmt)
