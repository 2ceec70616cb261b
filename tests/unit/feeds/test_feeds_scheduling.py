"""When changes to feeds are acted on (``Feeds.due``: WebSub told, a render outdated by new
links marked so): feeds with new entries within ``render_delay``, once per burst; feeds whose
entries only gained a link to a new translation after them, once for all the translations of an
article; everything at once on shutdown. The calls are recorded instead of made."""

from __future__ import annotations

import asyncio
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
