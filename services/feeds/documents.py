"""Feed documents from the feed logs: the subscription document (the last two log pages) and
the RFC 5005 archives (older pages), built from the stored entries, rendered and stored.

A log holds every version appended to the feed; a document shows each entry once, as its newest
version in the pages it covers, links it to its other languages, and shows a withdrawn one as a
tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from services.feeds.entries import FeedEntry
from services.feeds.render import (
    EPOCH,
    FORMATS,
    MEDIA_TYPES,
    Alternate,
    Entry,
    Feed,
    FeedLinks,
    Format,
    Image,
    Tombstone,
    render,
)
from services.feeds.routing import FeedRef, FeedUrls
from services.feeds.store import FeedStore, Rendered
from shared.contracts import ArticleStatus
from shared.languages import name_of
from shared.registry import Registry

# Rendered with every change; the other formats when asked for (Feeds.rendered).
EAGER: Format = "atom"


def document_key(feed: FeedRef, fmt: Format) -> str:
    """The stored subscription document of ``feed`` in ``fmt``."""
    return f"{feed.id}.{fmt}"


def archive_key(feed: FeedRef, page: int, fmt: Format) -> str:
    return f"{feed.id}#{page}.{fmt}"


class FeedDocuments:
    def __init__(
        self, store: FeedStore, registry: Registry, urls: FeedUrls, hub_url: str | None = None
    ) -> None:
        self.store = store
        self.registry = registry
        self.urls = urls
        self.hub_url = hub_url

    async def render_current(
        self, feed: FeedRef, seq: int, fmt: Format, source: str | None = None
    ) -> None:
        """Render and store the subscription document of the log up to ``seq``; ``source``:
        the Atom ETag a format rendered on demand goes with."""
        last = self.store.page_of(seq) if seq else 0
        items = await self.store.page_items(feed.id, [last - 1, last], seq)
        archive_before = last - 2 if last >= 2 else None
        doc = await self.build(feed, items, archive=False, page=None, prev=archive_before)
        await self.store.save_rendered(
            document_key(feed, fmt), seq, render(doc, fmt), MEDIA_TYPES[fmt], doc.updated, source
        )

    async def archive(self, feed: FeedRef, page: int, fmt: Format) -> Rendered | None:
        """An archive document, or ``None`` when ``page`` is not archived (yet)."""
        seq = await self.store.head(feed.id)
        if page < 0 or not seq or page > self.store.page_of(seq) - 2:
            return None
        key = archive_key(feed, page, fmt)
        found = await self.store.get_rendered(key)
        if found is not None:
            return found
        items = await self.store.page_items(feed.id, [page], seq)
        prev = page - 1 if page else None
        doc = await self.build(feed, items, archive=True, page=page, prev=prev)
        body = render(doc, fmt)
        await self.store.save_rendered(key, 0, body, MEDIA_TYPES[fmt], doc.updated)
        return await self.store.get_rendered(key)

    async def redact(self, feed: FeedRef, pages: Iterable[int]) -> list[str]:
        """A withdrawn entry leaves the archives too: drop their renders (the keys dropped); the
        next request renders them again with a tombstone (Atom) or without the entry (RSS,
        JSON)."""
        keys = [archive_key(feed, page, fmt) for page in pages for fmt in FORMATS]
        await self.store.drop_rendered(keys)
        return keys

    async def build(
        self,
        feed: FeedRef,
        items: Sequence[FeedEntry],
        *,
        archive: bool,
        page: int | None,
        prev: int | None,
    ) -> Feed:
        """The document of log ``items`` (newest first)."""
        latest: dict[str, FeedEntry] = {}
        for item in items:  # newest first: the first item of an entry is its current state
            latest.setdefault(item.key, item)
        if archive:  # withdrawn since: redact
            statuses = await self.store.statuses(latest)
            for key, item in latest.items():
                if statuses.get(key) == ArticleStatus.WITHDRAWN:
                    latest[key] = replace(item, status=ArticleStatus.WITHDRAWN)
        languages = await self.store.languages(i.article_id for i in latest.values())
        entries, tombstones = [], []
        for item in latest.values():
            if item.withdrawn:
                link = self.urls.permalink(item.article_id, item.language)
                tombstones.append(Tombstone(item.article_id, item.language, item.updated, link))
            else:
                entries.append(self._entry(item, languages.get(item.article_id, {})))
        entries.sort(key=lambda e: (e.published, e.article_id), reverse=True)
        title, author = await self._titles(feed)
        return Feed(
            kind=feed.kind,
            key=feed.key,
            language=feed.language,
            title=title,
            author=author,
            links=self._links(feed, archive=archive, page=page, prev=prev),
            updated=max((i.updated for i in latest.values()), default=EPOCH),
            entries=tuple(entries),
            tombstones=tuple(tombstones),
            archive=archive,
        )

    def _links(
        self, feed: FeedRef, *, archive: bool, page: int | None, prev: int | None
    ) -> FeedLinks:
        urls = self.urls
        pub_path = f"{urls.public_url}{feed.path}"
        return FeedLinks(
            self_base=urls.archive_base(feed, page) if archive and page is not None else pub_path,
            hub=None if archive else self.hub_url,
            html=f"{urls.public_url}/feeds",
            current_base=pub_path if archive else None,
            prev_archive_base=urls.archive_base(feed, prev) if prev is not None else None,
            next_archive_base=(
                urls.archive_base(feed, page + 1) if archive and page is not None else None
            ),
        )

    def _entry(self, item: FeedEntry, languages: dict[str, str]) -> Entry:
        """The renderer's entry, linked to the article's other active languages."""
        lang, permalink = item.language, self.urls.permalink
        return Entry(
            article_id=item.article_id,
            language=lang,
            version=item.version,
            headline=item.headline,
            body_html=item.body_html,
            published=item.published,
            updated=item.updated,
            publisher=item.publisher,
            publisher_name=item.publisher_name or item.publisher,
            link=permalink(item.article_id, lang),
            source_url=item.url,
            byline=item.byline,
            subjects=item.subjects,
            images=tuple(
                Image(
                    url=i.url, caption=i.caption, type=i.media_type, width=i.width, height=i.height
                )
                for i in item.images
            ),
            alternates=tuple(
                Alternate(other, permalink(item.article_id, other))
                for other, status in sorted(languages.items())
                if other != lang and status == "active"
            ),
            provenance=item.provenance,
            source_feed=self.urls.public_url + FeedRef("publisher", item.publisher, lang).path,
        )

    async def _titles(self, feed: FeedRef) -> tuple[str, str]:
        lang = name_of(feed.language, native=True)
        name = feed.key
        if feed.kind == "publisher":
            pub = await self.registry.publisher(feed.key)
            name = pub.name if pub else feed.key
        elif feed.kind == "network":
            net = next((n for n in await self.registry.networks() if n.id == feed.key), None)
            name = net.name if net else feed.key
        else:
            partner = await self.registry.partner(feed.key)
            name = f"{partner.name}: partner feed" if partner else feed.key
        return f"{name} ({lang})", name
