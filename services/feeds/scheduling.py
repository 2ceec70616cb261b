"""When changes to feeds are acted on: debounced, so that a burst of changes to a feed costs a
few rounds of work (``Feeds.due``: what links to it outdated, WebSub told), not one per change.

The feed logs are written before a change is scheduled, so a crash before it is acted on loses
nothing (``Feeds.catch_up`` announces every feed whose rendering is behind its log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from services.feeds.routing import FeedRef

log = logging.getLogger(__name__)

# Feeds rendered concurrently by one replica: their reads overlap, their writes take turns
# (FeedStore.save_rendered; with concurrent writers FerretDB used about twice the CPU per
# article in a burst, 887-947 against 391-532 ms, measured with make bench-e2e).
RENDERS_AT_ONCE = 2

# A feed whose changes are due; True when only what its entries link to changed.
Render = Callable[[FeedRef, bool], Awaitable[None]]


class RenderScheduler:
    def __init__(self, render: Render, render_delay: float = 0.0, links_delay: float = 1.0) -> None:
        self.render = render
        self.render_delay = render_delay
        self.links_delay = links_delay
        self._dirty: set[FeedRef] = set()  # new entries: render within render_delay
        self._links: dict[FeedRef, float] = {}  # only links changed: render at loop time
        self._flushing = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None

    async def changed(self, feed: FeedRef, *, links_only: bool = False) -> None:
        """The feed's log changed: render it now, or with ``render_delay``, within that delay,
        once for every change to it in the meantime (a burst of 500 articles is a few renders,
        not 500). The log is already written, so a crash before the render loses nothing.

        ``links_only``: nothing in the feed's log changed, only the languages its entries link
        to (an article gained or lost a translation). Such renders wait ``links_delay``, so
        that the feeds with new entries go first and the translations of one article, which
        arrive together, cost one render of each sibling feed rather than one per language; a
        render for a new entry in the meantime does the job."""
        if self.render_delay <= 0:
            await self.render(feed, links_only)
            return
        if links_only:
            self._links.setdefault(feed, asyncio.get_running_loop().time() + self.links_delay)
        else:
            self._dirty.add(feed)
        self._idle.clear()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._render_loop())

    def _due(self) -> list[tuple[FeedRef, bool]]:
        """Feeds due now, taken off the queues, each with whether only its links changed: those
        with new entries first, then the link changes that are due (all of them when
        flushing)."""
        now = asyncio.get_running_loop().time()
        entries = sorted(self._dirty, key=lambda f: f.id)
        links = sorted(
            (f for f, when in self._links.items() if when <= now or self._flushing),
            key=lambda f: f.id,
        )
        # A feed with new entries is rendered anew on its next request whatever its links.
        due = [(f, False) for f in entries] + [(f, True) for f in links if f not in self._dirty]
        self._dirty.clear()
        for feed, _ in due:  # a render reads the current state: it does any pending links too
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
            await asyncio.gather(*(self._render(feed, links, gate) for feed, links in self._due()))

    async def _render(self, feed: FeedRef, links_only: bool, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await self.render(feed, links_only)
            except Exception:
                log.exception("feed change failed; retrying", extra={"feed": feed.id})
                if links_only:
                    self._links[feed] = asyncio.get_running_loop().time()
                else:
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
