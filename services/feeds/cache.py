"""This replica's feed documents in memory for a moment: the hot path of the feeds service.

Readers poll feeds far more often than feeds change, so a document read from the database is
served from memory for ``FEEDS_CACHE_SECONDS`` (default 1 s; 0 turns the cache off): instead of
one database read per request, at most one per document per second. What that costs is
staleness, and it is bounded: a replica may serve a feed up to ``FEEDS_CACHE_SECONDS`` after
another replica consumed a change to it (a reader that polls every minute would hardly notice).
The replica that consumes a change forgets its own copies at once (``Feeds.on_change``), and the
next request renders the document anew (``Feeds.rendered``).

Each :class:`Document` carries what answering needs, worked out once: the response headers,
and its gzip and brotli bytes, each compressed on the first request that asks for it (off the
event loop when large) and kept for as long as the document's ETag stays the same, also across
re-reads after the TTL. Which coding a request gets is :func:`negotiate` (``Accept-Encoding``
with its q-values). Every variant carries the document's one ETag and ``Vary: Accept-Encoding``:
``If-None-Match`` is compared weakly (RFC 9110 13.1.2), so a 304 is right for each variant, and
a cache keeps the variants apart by ``Vary``.

One load per key at a time: requests that miss while a load is running wait for it rather than
start their own. A load that began before the key was forgotten is returned to those waiting for
it, but never stored. Entries not asked for in two TTLs are dropped, so memory holds only the
documents read in the last moments.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

import brotli  # type: ignore[import-untyped]

V = TypeVar("V")
GZIP_LEVEL = 9  # compressed once per document version, so the smallest output is worth it
GZIP_MIN_SIZE = 1024  # smaller bodies go out as they are (as GZipMiddleware's minimum_size)
GZIP_IN_THREAD = 64 * 1024  # compress larger bodies in a thread, off the event loop
# Brotli at 6: a 50-entry Atom feed (180 KB) to 27.0 KB in about 5 ms, as gzip -9 makes 29.1 KB;
# quality 11 makes 23.7 KB but takes 1.5 s of CPU, for every version of every feed and format,
# on every replica (docs/benchmarks.md, Feeds).
BROTLI_QUALITY = 6
Header = tuple[bytes, bytes]
Coding = Literal["br", "gzip", "identity"]
#: What the server offers, best first: at equal q-values, the smaller bytes win.
CODINGS: tuple[Coding, ...] = ("br", "gzip", "identity")


@dataclass(eq=False)
class Document:
    """A feed document ready to send: its body, validators, and the header lists of its
    answers, built once. ``headers`` are those every answer carries (the 304 sends only them);
    a 200 adds its type and length, and a compressed variant its encoding."""

    body: bytes
    media_type: str
    etag: str
    last_modified: datetime  # as sent (whole seconds), for If-Modified-Since
    headers: list[Header]
    # The Atom ETag this document goes with (an Atom document's own): while the stored Atom
    # version still has it, a cached copy is current (FeedServer.current).
    version: str | None = None
    identity: list[Header] = field(init=False, repr=False)
    #: The compressed variants made so far, by coding: their headers and bytes.
    variants: dict[str, tuple[list[Header], bytes]] = field(default_factory=dict, repr=False)
    _making: dict[str, asyncio.Future[bytes]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.identity = [*self._typed(), (b"content-length", str(len(self.body)).encode())]

    def _typed(self) -> list[Header]:
        return [*self.headers, (b"content-type", self.media_type.encode("latin-1"))]

    @property
    def compressible(self) -> bool:
        return len(self.body) >= GZIP_MIN_SIZE

    async def encoded(self, coding: Coding) -> tuple[list[Header], bytes]:
        """Headers and body of a variant: compressed once, by the first request that wants it
        (in a thread when the body is large; others wanting it meanwhile wait)."""
        if coding == "identity" or not self.compressible:
            return self.identity, self.body
        made = self.variants.get(coding)
        if made is not None:
            return made
        compressor = compress if coding == "gzip" else compress_brotli
        if len(self.body) < GZIP_IN_THREAD:
            body = compressor(self.body)
        else:
            making = self._making.get(coding)
            if making is None:
                making = asyncio.ensure_future(asyncio.to_thread(compressor, self.body))
                self._making[coding] = making
            body = await asyncio.shield(making)
        headers = [
            *self._typed(),
            (b"content-encoding", coding.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        made = self.variants.setdefault(coding, (headers, body))
        self._making.pop(coding, None)
        return made

    async def gzipped(self) -> tuple[list[Header], bytes]:
        """The gzip variant (:meth:`encoded`)."""
        return await self.encoded("gzip")


def compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)  # same bytes on every replica


def compress_brotli(body: bytes) -> bytes:
    return bytes(brotli.compress(body, quality=BROTLI_QUALITY))


@lru_cache(maxsize=512)  # clients send a handful of distinct headers: parsed once each
def negotiate(accept_encoding: str | None) -> Coding:
    """The coding to answer an ``Accept-Encoding`` with (RFC 9110 12.5.3): the acceptable one
    with the highest q-value, brotli before gzip before none at equal q; ``*`` stands for any
    coding not named. ``identity`` when no coding is acceptable, even if refused (the body goes
    out as it is rather than as a 406). ``x-gzip`` is gzip."""
    if not accept_encoding:
        return "identity"
    q: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        name = name.strip()
        if name == "x-gzip":
            name = "gzip"
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            q[name] = max(weight, q.get(name, 0.0))
    star = q.get("*")
    best: Coding = "identity"  # acceptable unless refused, and the last resort anyway
    best_q = 0.0
    for coding in CODINGS:
        weight = q.get(coding, star if star is not None else 0.0)
        if weight > best_q:
            best, best_q = coding, weight
    return best


_MISSING: Any = object()


class TTLCache(Generic[V]):
    """Values by key for ``ttl`` seconds (0: not at all), loaded once per key at a time.

    ``same(old, new)``: when a reload finds the same value, keep the old object (and what it has
    worked out since, such as gzip bytes)."""

    def __init__(
        self,
        ttl: float,
        same: Callable[[V, V], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.same = same
        self.clock = clock
        self._values: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}
        self._generation: dict[str, int] = {}
        self._swept = clock()
        self.loads = 0  # how many loads ran (for tests and curiosity)
        self.revalidated = 0  # how many expired values were found current and kept

    async def get(
        self,
        key: str,
        load: Callable[[], Awaitable[V]],
        revalidate: Callable[[V], Awaitable[bool]] | None = None,
    ) -> V:
        """The value of ``key``: cached, else loaded. Past its TTL, a cached value that
        ``revalidate`` says is still current is kept for another TTL without a load."""
        if self.ttl <= 0:
            self.loads += 1
            return await load()
        now = self.clock()
        hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        pending = self._loading.get(key)
        if pending is None:
            generation = self._generation.get(key, 0)  # now: the task may start later
            pending = asyncio.ensure_future(self._load(key, load, revalidate, hit, generation))
            self._loading[key] = pending
            pending.add_done_callback(partial_pop(self._loading, key))
        return await asyncio.shield(pending)

    async def _load(
        self,
        key: str,
        load: Callable[[], Awaitable[V]],
        revalidate: Callable[[V], Awaitable[bool]] | None,
        hit: tuple[float, V] | None,
        generation: int,
    ) -> V:
        started = self.clock()
        if hit is not None and revalidate is not None and await revalidate(hit[1]):
            self.revalidated += 1
            value = hit[1]
        else:
            self.loads += 1
            value = await load()
            if hit is not None and self.same is not None and self.same(hit[1], value):
                value = hit[1]
        if self._generation.get(key, 0) == generation:  # not forgotten meanwhile
            self._values[key] = (started, value)
        self._sweep(started)
        return value

    def peek(self, key: str) -> tuple[V] | None:
        """``(value,)`` while ``key`` is cached and within its TTL, else None: what :meth:`get`
        would return without loading, for a caller that cannot wait (the feeds fast path)."""
        hit = self._values.get(key)
        if hit is None or self.clock() - hit[0] >= self.ttl:
            return None
        return (hit[1],)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop these keys now; a load already running for one of them is not stored."""
        for key in keys:
            self._values.pop(key, None)
            self._generation[key] = self._generation.get(key, 0) + 1
            self._loading.pop(key, None)  # later requests start a fresh load

    def _sweep(self, now: float) -> None:
        if now - self._swept < self.ttl:
            return
        self._swept = now
        stale = [k for k, (at, _) in self._values.items() if now - at >= 2 * self.ttl]
        for key in stale:
            del self._values[key]

    def __len__(self) -> int:
        return len(self._values)


def partial_pop(loading: dict[str, asyncio.Future[V]], key: str) -> Callable[[Any], None]:
    """Done callback: unregister the load of ``key`` unless a newer one replaced it."""

    def done(future: Any) -> None:
        if loading.get(key) is future:
            del loading[key]

    return done


class DocumentCache(TTLCache[Document | None]):
    """Feed documents by store key; a reload with the same ETag keeps the cached object."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl, same=_same_document, clock=clock)


def _same_document(old: Document | None, new: Document | None) -> bool:
    return old is not None and new is not None and old.etag == new.etag
