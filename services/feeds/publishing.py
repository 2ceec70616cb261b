"""Which feeds carry an entry, and keeping their rendered documents in step with their logs.

Three kinds of feed, each per language: a publisher's own, a network's (every member
publisher), and a partner city's private one (its publishers and networks, filtered by
subject). An entry change is appended to each feed that carries it, the feed's subscription
document is rendered again in every format, and WebSub subscribers are told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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
from services.feeds.store import FeedStore, entry_key, stamp
from shared.registry import Registry

log = logging.getLogger(__name__)

Kind = Literal["publisher", "network", "partner"]
PATHS: dict[str, str] = {"publisher": "feeds", "network": "networks", "partner": "partners"}
TOPIC = re.compile(
    r"^/(?P<root>feeds|networks|partners)/(?P<key>[^/]+)/(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)"
    r"\.(?P<fmt>atom|rss|json)$"
)
# Feeds rendered concurrently by one replica: their reads overlap, their writes take turns
# (FeedStore.save_rendered; with concurrent writers FerretDB used about twice the CPU per
# article in a burst, 887-947 against 391-532 ms, measured with make bench-e2e).
RENDERS_AT_ONCE = 2
# Rendered with every change; the other formats when asked for (FeedPublisher.rendered).
EAGER: Format = "atom"
LANGUAGE_NAMES = {"fa": "فارسی", "en": "English", "ar": "العربية", "ru": "Русский"}


@dataclass(frozen=True)
class FeedRef:
    kind: Kind
    key: str
    language: str

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.key}/{self.language}"

    @property
    def path(self) -> str:
        """URL path without extension, e.g. ``/feeds/mashhad/en``."""
        return f"/{PATHS[self.kind]}/{self.key}/{self.language}"


Notify = Callable[[str], Awaitable[Any]]


class FeedPublisher:
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
        self.public_url = public_url.rstrip("/")
        self.hub_url = hub_url
        self.notify = notify
        self.render_delay = render_delay
        self.links_delay = links_delay
        self._dirty: set[FeedRef] = set()  # new entries: render within render_delay
        self._links: dict[FeedRef, float] = {}  # only links changed: render at loop time
        self._flushing = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ URLs

    def url(self, feed: FeedRef, fmt: str) -> str:
        return f"{self.public_url}{feed.path}.{fmt}"

    def archive_base(self, feed: FeedRef, page: int) -> str:
        return f"{self.public_url}{feed.path}/archive/{page}"

    def permalink(self, article_id: str, language: str) -> str:
        return f"{self.public_url}/entries/{article_id}/{language}"

    def parse_topic(self, url: str) -> tuple[FeedRef, Format] | None:
        """The feed and format of one of our subscription-document URLs (query ignored)."""
        if not url.startswith(self.public_url + "/"):
            return None
        match = TOPIC.match(url[len(self.public_url) :].split("?", 1)[0])
        if match is None:
            return None
        kind = next(k for k, v in PATHS.items() if v == match["root"])
        fmt: Format = match["fmt"]  # type: ignore[assignment]
        return FeedRef(kind, match["key"], match["lang"]), fmt  # type: ignore[arg-type]

    async def feed_languages(self, kind: Kind, key: str) -> list[str] | None:
        """The languages a publisher, network or partner has feeds in; None if unknown."""
        registry = self.registry
        if kind == "publisher":
            pub = await registry.publisher(key)
            if pub is None:
                return None
            targets = await registry.target_languages(key)
            return list(dict.fromkeys([*pub.feed_languages, *targets]))
        if kind == "network":
            net = await registry.network(key)
            if net is None:
                return None
            if net.languages:
                return list(net.languages)
            found: list[str] = []
            for member in net.members:
                found += (await self.feed_languages("publisher", member)) or []
            return list(dict.fromkeys(found))
        partner = await registry.partner(key)
        return None if partner is None else list(partner.languages)

    # ------------------------------------------------------------------ routing

    async def feeds_for(self, entry: dict[str, Any]) -> list[FeedRef]:
        """Every feed that carries this entry."""
        publisher, language = entry["publisher"], entry["language"]
        subjects = list(entry.get("subjects") or ())
        feeds = [FeedRef("publisher", publisher, language)]
        networks = await self.registry.networks()
        for net in networks:
            if publisher in net.members and (not net.languages or language in net.languages):
                feeds.append(FeedRef("network", net.id, language))
        for partner in await self.registry.partners():
            if language in partner.languages and self.registry.partner_wants(
                partner, publisher, subjects
            ):
                feeds.append(FeedRef("partner", partner.id, language))
        return feeds

    # ------------------------------------------------------------------ changes

    async def add(self, doc: dict[str, Any]) -> None:
        """Store the entry, append its latest version to every feed that carries it (once per
        feed and version, also across redeliveries), re-render those feeds and notify WebSub.
        Re-render even when nothing was new: a crash may have come before the render."""
        pub = await self.registry.publisher(doc["publisher"])
        doc = {**doc, "publisher_name": pub.name if pub else doc["publisher"]}
        before = (await self.store.languages([doc["article_id"]])).get(doc["article_id"], {})
        changed = await self.store.upsert_entry(doc)
        entry = await self.store.entry(doc["article_id"], doc["language"])
        if entry is None:
            return
        marker = stamp(entry)
        key = entry_key(entry["article_id"], entry["language"])
        for feed in await self.feeds_for(entry):
            if (entry.get("appended") or {}).get(feed.id.replace(".", "_")) != marker:
                seq = await self.store.append(feed.id, _item(entry))
                await self.store.mark_appended(key, feed.id, self.store.page_of(seq), marker)
                if entry["status"] == "withdrawn":
                    await self._redact(feed, entry)
            await self.changed(feed)
        if before.get(entry["language"]) != entry["status"]:
            # A language appeared or was withdrawn: the other languages' entries link to it.
            # Those stored by now, read again: one stored concurrently (an original and its
            # translation come on two topics) may have read ``before`` without this one.
            now = await self.store.languages([entry["article_id"]])
            await self._refresh_siblings(entry, {**before, **now.get(entry["article_id"], {})})
        log.info("entry stored" if changed else "entry already stored; feeds refreshed")

    async def backfill(self, entry: dict[str, Any]) -> set[FeedRef]:
        """Append a stored entry to the feeds that carry it but have not got this version (a
        feed added to the registry later, or data from before feed logs); the feeds changed."""
        marker = stamp(entry)
        key = entry_key(entry["article_id"], entry["language"])
        changed = set()
        for feed in await self.feeds_for(entry):
            if (entry.get("appended") or {}).get(feed.id.replace(".", "_")) != marker:
                seq = await self.store.append(feed.id, _item(entry))
                await self.store.mark_appended(key, feed.id, self.store.page_of(seq), marker)
                changed.add(feed)
        return changed

    async def _refresh_siblings(self, entry: dict[str, Any], languages: dict[str, str]) -> None:
        for other in languages:
            if other == entry["language"]:
                continue
            sibling = await self.store.entry(entry["article_id"], other)
            if sibling is not None and sibling["status"] == "active":
                for feed in await self.feeds_for(sibling):
                    await self.changed(feed, links_only=True)

    async def _redact(self, feed: FeedRef, entry: dict[str, Any]) -> None:
        """A withdrawn entry leaves the archives too: drop their renders; the next request
        renders them again with a tombstone (Atom) or without the entry (RSS, JSON)."""
        pages = (entry.get("pages") or {}).get(feed.id.replace(".", "_"), [])
        await self.store.drop_rendered(
            f"{feed.id}#{page}.{fmt}" for page in pages for fmt in FORMATS
        )

    # ------------------------------------------------------------------ rendering

    async def changed(self, feed: FeedRef, *, links_only: bool = False) -> None:
        """The feed's log changed: render it now, or with ``render_delay``, within that delay,
        once for every change to it in the meantime (a burst of 500 articles is a few renders,
        not 500). The log is already written, so a crash before the render loses nothing:
        :meth:`catch_up` renders every feed whose rendering is behind its log.

        ``links_only``: nothing in the feed's log changed, only the languages its entries link
        to (an article gained or lost a translation). Such renders wait ``links_delay``, so
        that the feeds with new entries go first and the translations of one article, which
        arrive together, cost one render of each sibling feed rather than one per language; a
        render for a new entry in the meantime does the job."""
        if self.render_delay <= 0:
            await self.refresh(feed)
            return
        if links_only:
            self._links.setdefault(feed, asyncio.get_running_loop().time() + self.links_delay)
        else:
            self._dirty.add(feed)
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._render_loop())

    def _due(self) -> list[FeedRef]:
        """Feeds to render now, taken off the queues: those with new entries first, then the
        link renders that are due (all of them when flushing)."""
        now = asyncio.get_running_loop().time()
        entries = sorted(self._dirty, key=lambda f: f.id)
        links = sorted(
            (f for f, when in self._links.items() if when <= now or self._flushing),
            key=lambda f: f.id,
        )
        due = entries + [f for f in links if f not in self._dirty]
        self._dirty.clear()
        for feed in due:  # a render reads the current state: it does any pending links too
            self._links.pop(feed, None)
        return due

    async def _render_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._dirty and not self._links:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._dirty:
                await asyncio.sleep(self.render_delay)
            elif not self._flushing:
                wait = min(self._links.values()) - loop.time()
                if wait > 0:  # until the first link render is due, or something new comes
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    continue
            gate = asyncio.Semaphore(RENDERS_AT_ONCE)  # taken in order: new entries first
            await asyncio.gather(*(self._render(feed, gate) for feed in self._due()))

    async def _render(self, feed: FeedRef, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await self.refresh(feed)
            except Exception:
                log.exception("feed render failed; retrying", extra={"feed": feed.id})
                self._dirty.add(feed)

    async def flush(self) -> None:
        """Render everything scheduled now, link renders included, and wait until done (on
        shutdown; bound it with a timeout)."""
        if self._worker is not None and not self._worker.done():
            self._flushing = True
            self._wake.set()
            try:
                await self._idle.wait()
            finally:
                self._flushing = False

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

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
            await self._render_current(feed, seq, EAGER)
            head = await self.store.head(feed.id)
            if head == seq:
                break
            if self.render_delay > 0:  # under a stream of changes: once more with the rest
                await self.changed(feed)
                break
            seq = head
        if self.notify is not None:
            for fmt in FORMATS:
                try:
                    await self.notify(self.url(feed, fmt))
                except Exception:  # delivery problems are the hub's to retry, never the feed's
                    log.exception("WebSub notification failed", extra={"feed": feed.id})

    async def _render_current(
        self, feed: FeedRef, seq: int, fmt: Format, source: str | None = None
    ) -> None:
        last = self.store.page_of(seq) if seq else 0
        items = await self.store.page_items(feed.id, [last - 1, last], seq)
        archive_before = last - 2 if last >= 2 else None
        doc = await self._build(feed, items, archive=False, page=None, prev=archive_before)
        await self.store.save_rendered(
            f"{feed.id}.{fmt}", seq, render(doc, fmt), MEDIA_TYPES[fmt], doc.updated, source
        )

    async def rendered(self, feed: FeedRef, fmt: Format) -> Any:
        """The stored subscription document. Atom is rendered with every change to the feed;
        RSS and JSON Feed when first asked for after the Atom document changed (a format no one
        reads costs nothing), and marked with the Atom ETag they go with. A feed never rendered
        is rendered first."""
        key = f"{feed.id}.{fmt}"
        found = await self.store.get_rendered(key)
        if fmt == EAGER:
            if found is None:
                await self.refresh(feed)
                found = await self.store.get_rendered(key)
            return found
        atom = await self.store.rendered_version(f"{feed.id}.{EAGER}")
        if atom is None and found is None:
            await self.refresh(feed)
            atom = await self.store.rendered_version(f"{feed.id}.{EAGER}")
        source = atom[1] if atom else None
        if found is None or (source is not None and found.source != source):
            seq = await self.store.head(feed.id)
            await self._render_current(feed, seq, fmt, source)
            found = await self.store.get_rendered(key)
        return found

    async def archive(self, feed: FeedRef, page: int, fmt: Format) -> Any:
        """An archive document, or ``None`` when ``page`` is not archived (yet)."""
        seq = await self.store.head(feed.id)
        if page < 0 or not seq or page > self.store.page_of(seq) - 2:
            return None
        key = f"{feed.id}#{page}.{fmt}"
        found = await self.store.get_rendered(key)
        if found is not None:
            return found
        items = await self.store.page_items(feed.id, [page], seq)
        prev = page - 1 if page else None
        doc = await self._build(feed, items, archive=True, page=page, prev=prev)
        body = render(doc, fmt)
        await self.store.save_rendered(key, 0, body, MEDIA_TYPES[fmt], doc.updated)
        return await self.store.get_rendered(key)

    # ------------------------------------------------------------------ documents

    async def _build(
        self,
        feed: FeedRef,
        items: Sequence[dict[str, Any]],
        *,
        archive: bool,
        page: int | None,
        prev: int | None,
    ) -> Feed:
        latest: dict[str, dict[str, Any]] = {}
        for item in items:  # newest first: the first item of an entry is its current state
            latest.setdefault(entry_key(item["article_id"], item["language"]), item)
        if archive:  # withdrawn since: redact
            statuses = await self.store.statuses(latest)
            for key, item in latest.items():
                if statuses.get(key) == "withdrawn":
                    latest[key] = {**item, "status": "withdrawn"}
        languages = await self.store.languages(i["article_id"] for i in latest.values())
        entries, tombstones = [], []
        for item in latest.values():
            if item["status"] == "withdrawn":
                tombstones.append(
                    Tombstone(
                        article_id=item["article_id"],
                        language=item["language"],
                        when=item["updated"],
                        link=self.permalink(item["article_id"], item["language"]),
                    )
                )
            else:
                others = languages.get(item["article_id"], {})
                entries.append(self._entry(item, others))
        entries.sort(key=lambda e: (e.published, e.article_id), reverse=True)
        updated = max((i["updated"] for i in latest.values()), default=EPOCH)
        title, author = await self._titles(feed)
        pub_path = f"{self.public_url}{feed.path}"
        links = FeedLinks(
            self_base=self.archive_base(feed, page) if archive and page is not None else pub_path,
            hub=None if archive else self.hub_url,
            html=f"{self.public_url}/feeds",
            current_base=pub_path if archive else None,
            prev_archive_base=self.archive_base(feed, prev) if prev is not None else None,
            next_archive_base=(
                self.archive_base(feed, page + 1) if archive and page is not None else None
            ),
        )
        return Feed(
            kind=feed.kind,
            key=feed.key,
            language=feed.language,
            title=title,
            author=author,
            links=links,
            updated=updated,
            entries=tuple(entries),
            tombstones=tuple(tombstones),
            archive=archive,
        )

    def _entry(self, item: dict[str, Any], languages: dict[str, str]) -> Entry:
        lang = item["language"]
        return Entry(
            article_id=item["article_id"],
            language=lang,
            version=int(item["version"]),
            headline=item["headline"],
            body_html=item["body_html"],
            published=item["published"],
            updated=item["updated"],
            publisher=item["publisher"],
            publisher_name=item.get("publisher_name") or item["publisher"],
            link=self.permalink(item["article_id"], lang),
            source_url=item.get("url"),
            byline=item.get("byline"),
            subjects=tuple(item.get("subjects") or ()),
            images=tuple(
                Image(
                    url=i["url"],
                    caption=i.get("caption"),
                    type=i.get("media_type") or i.get("type"),
                    width=i.get("width"),
                    height=i.get("height"),
                )
                for i in item.get("images") or ()
                if i.get("url")
            ),
            alternates=tuple(
                Alternate(other, self.permalink(item["article_id"], other))
                for other, status in sorted(languages.items())
                if other != lang and status == "active"
            ),
            provenance=item.get("provenance"),
        )

    async def _titles(self, feed: FeedRef) -> tuple[str, str]:
        lang = LANGUAGE_NAMES.get(feed.language, feed.language)
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


def _item(entry: dict[str, Any]) -> dict[str, Any]:
    """What a feed log keeps of an entry version (not the bookkeeping fields)."""
    return {
        k: v for k, v in entry.items() if k not in {"_id", "appended", "pages", "stored_at", "seq"}
    }
