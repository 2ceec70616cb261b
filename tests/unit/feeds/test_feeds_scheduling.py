"""When changes to feeds are acted on (``Feeds.due``: WebSub told, a render outdated by new
links marked so): feeds with new entries within ``render_delay``, once per burst; feeds whose
entries only gained a link to a new translation after them, once for all the translations of an
article; everything at once on shutdown. The calls are recorded instead of made."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from services.feeds.publishing import FeedRef, Feeds

FA = FeedRef("publisher", "mashhad", "fa")
EN = FeedRef("publisher", "mashhad", "en")
AR = FeedRef("publisher", "mashhad", "ar")


class Recording(Feeds):
    def __init__(self, render_delay: float, links_delay: float) -> None:
        super().__init__(
            store=Any,  # type: ignore[arg-type]  # never reached: due is replaced
            registry=Any,  # type: ignore[arg-type]
            public_url="https://feeds.example",
            render_delay=render_delay,
            links_delay=links_delay,
        )
        self.renders: asyncio.Queue[FeedRef] = asyncio.Queue()
        self.done: list[FeedRef] = []

    async def due(self, feed: FeedRef, links_only: bool) -> None:
        self.done.append(feed)
        await self.renders.put(feed)


async def test_new_entries_render_first_and_a_burst_renders_each_feed_once() -> None:
    feeds = Recording(render_delay=0.01, links_delay=0.0)
    await feeds.changed(FA, links_only=True)  # asked first, but only its links changed
    for _ in range(5):
        await feeds.changed(EN)
        await feeds.changed(AR)
    first = [await feeds.renders.get() for _ in range(3)]
    assert first == [AR, EN, FA]  # new entries first (in id order), then the link render
    await feeds.flush()
    assert feeds.done == [AR, EN, FA]
    await feeds.stop()


async def test_link_renders_wait_and_several_translations_cost_one_render() -> None:
    feeds = Recording(render_delay=0.01, links_delay=30.0)
    await feeds.changed(EN)  # the English translation is new ...
    await feeds.changed(FA, links_only=True)  # ... so the Persian entry links to it
    await feeds.changed(AR)
    await feeds.changed(FA, links_only=True)
    await feeds.changed(EN, links_only=True)
    assert await feeds.renders.get() == AR
    assert await feeds.renders.get() == EN  # its new entry and its new link: one render
    assert feeds.renders.empty() and FA not in feeds.done  # links wait 30 s ...
    await feeds.flush()  # ... or until shutdown, when everything is rendered at once
    assert feeds.done == [AR, EN, FA]
    await feeds.stop()


async def test_a_render_for_new_entries_takes_a_pending_link_render_along() -> None:
    feeds = Recording(render_delay=0.01, links_delay=30.0)
    await feeds.changed(FA, links_only=True)
    await feeds.changed(FA)
    assert await feeds.renders.get() == FA
    await feeds.flush()
    assert feeds.done == [FA]
    await feeds.stop()


async def test_a_failed_render_is_tried_again() -> None:
    class Flaky(Recording):
        failures = 1

        async def due(self, feed: FeedRef, links_only: bool) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database unreachable")
            await super().due(feed, links_only)

    feeds = Flaky(render_delay=0.01, links_delay=30.0)
    await feeds.changed(FA, links_only=True)
    await feeds.flush()
    assert feeds.done == [FA]
    await feeds.stop()


async def test_a_links_change_during_a_render_leaves_that_render_outdated() -> None:
    """A translation that appears while a reader's request renders the feed: the render may
    have read the languages before it, and lands after the change was noted."""

    class Store:
        def __init__(self) -> None:
            self.token = "before"
            self.seqs: dict[str, int] = {}

        async def head(self, feed: str) -> int:
            return 3

        async def links_token(self, feed: str) -> str | None:
            return self.token

        async def new_links(self, feed: str) -> None:
            self.token = "after"

        async def outdate(self, key: str) -> None:
            self.seqs[key] = -1

    store = Store()
    feeds = Feeds(store, Any, "https://feeds.example")  # type: ignore[arg-type]

    async def render_current(feed: FeedRef, seq: int, fmt: str, source: Any = None) -> None:
        await feeds.due(FA, True)  # the links change, noted mid-render ...
        store.seqs[f"{feed.id}.{fmt}"] = seq  # ... and the render saved after it

    feeds.documents.render_current = render_current  # type: ignore[method-assign]
    await feeds.render(FA)
    assert store.seqs["publisher/mashhad/fa.atom"] == -1  # the next request renders again


async def test_requests_that_arrive_together_after_a_change_cost_one_render() -> None:
    """A poller of the Atom feed and a reader of its RSS ask at once after a change: one Atom
    render, which the second request finds stored; then the RSS render from it."""

    class Store:
        def __init__(self) -> None:
            self.seqs: dict[str, tuple[int, str]] = {}

        async def head(self, feed: str) -> int:
            return 7

        async def links_token(self, feed: str) -> str | None:
            return None

        async def rendered_version(self, key: str) -> tuple[int, str] | None:
            return self.seqs.get(key)

        async def get_rendered(self, key: str) -> Any:
            if key not in self.seqs:
                return None
            seq, etag = self.seqs[key]
            return SimpleNamespace(seq=seq, source=etag if key.endswith("rss") else None)

    store = Store()
    feeds = Feeds(store, Any, "https://feeds.example")  # type: ignore[arg-type]
    renders: list[str] = []

    async def render_current(feed: FeedRef, seq: int, fmt: str, source: Any = None) -> None:
        renders.append(fmt)
        await asyncio.sleep(0)  # the other request arrives meanwhile
        store.seqs[f"{feed.id}.{fmt}"] = (seq, source or f"etag-{seq}")

    feeds.documents.render_current = render_current  # type: ignore[method-assign]
    atom, rss = await asyncio.gather(feeds.rendered(FA, "atom"), feeds.rendered(FA, "rss"))
    assert renders == ["atom", "rss"]
    assert (atom.seq, rss.seq, rss.source) == (7, 7, "etag-7")
