"""The feeds service's hot path without infrastructure: documents served from this replica's
memory for ``FEEDS_CACHE_SECONDS`` (a clock the tests move by hand), forgotten at once when this
replica renders, 304s and the gzip variant from the cache, and the same answers whether a request
takes the fast path or the routes. A store in memory stands in for the database."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.feeds import cache as cache_module
from services.feeds.cache import TTLCache
from services.feeds.http import install
from services.feeds.publishing import FeedRef, Feeds
from services.feeds.store import Rendered
from shared.registry import Registry, create_partner_token, save
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

SITE = "https://feeds.example"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
UPDATED = datetime(2025, 5, 1, 8, 30, 15, tzinfo=UTC)
BODY = ("<feed>" + "<entry>Tehran metro line 7 reaches the north</entry>" * 60 + "</feed>").encode()


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    """The rendered documents and feed heads, in memory; counts reads of rendered documents."""

    page_size = 10

    def __init__(self) -> None:
        self.docs: dict[str, Rendered] = {}
        self.seqs: dict[str, int] = {}
        self.heads: dict[str, int] = {}
        self.reads: list[str] = []
        self.version_reads: list[str] = []

    def page_of(self, seq: int) -> int:
        return (seq - 1) // self.page_size

    async def head(self, feed: str) -> int:
        return self.heads.get(feed, 0)

    async def get_rendered(self, key: str) -> Rendered | None:
        self.reads.append(key)
        await asyncio.sleep(0)
        return self.docs.get(key)

    async def save_rendered(
        self,
        key: str,
        seq: int,
        body: bytes,
        media_type: str,
        updated: datetime,
        source: str | None = None,
    ) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.docs[key] = Rendered(body, media_type, etag, updated, source)
        self.seqs[key] = seq

    async def rendered_version(self, key: str) -> tuple[int, str] | None:
        self.version_reads.append(key)
        doc = self.docs.get(key)
        return None if doc is None else (self.seqs.get(key, 0), doc.etag)

    async def drop_rendered(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.docs.pop(key, None)

    async def links_token(self, feed: str) -> str | None:
        return None

    async def is_current(self, key: str, feed: str, etag: str) -> bool:
        version = await self.rendered_version(key)
        return version is not None and version[1] == etag and version[0] >= await self.head(feed)

    async def outdate(self, key: str) -> None:
        self.seqs[key] = -1


async def make(ttl: float = 1.0) -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = FakeStore()
    feeds = Feeds(store, registry, SITE, hub_url=f"{SITE}/websub")  # type: ignore[arg-type]
    ticks = Ticks()
    app = FastAPI()
    server = install(app, feeds, cache_seconds=ttl, clock=ticks)
    await store.save_rendered("publisher/tehran/en.atom", 7, BODY, ATOM, UPDATED)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE)
    return SimpleNamespace(
        client=client, store=store, ticks=ticks, server=server, token=token, feeds=feeds
    )


@pytest.fixture
async def w() -> SimpleNamespace:
    return await make()


URL = "/feeds/tehran/en.atom"


# ---------------------------------------------------------------------- the cache itself


async def test_a_value_is_loaded_once_per_ttl_and_again_after_it() -> None:
    ticks = Ticks()
    cache: TTLCache[int] = TTLCache(1.0, clock=ticks)
    loads: list[int] = []

    async def load() -> int:
        loads.append(len(loads))
        return len(loads)

    assert await cache.get("k", load) == 1
    ticks.now += 0.99
    assert await cache.get("k", load) == 1
    ticks.now += 0.01
    assert await cache.get("k", load) == 2
    assert len(loads) == 2


async def test_no_ttl_means_no_cache() -> None:
    cache: TTLCache[int] = TTLCache(0, clock=Ticks())
    n = iter(range(10))

    async def load() -> int:
        return next(n)

    assert [await cache.get("k", load) for _ in range(3)] == [0, 1, 2]
    assert len(cache) == 0


async def test_requests_that_miss_together_share_one_load() -> None:
    cache: TTLCache[str] = TTLCache(1.0, clock=Ticks())
    gate = asyncio.Event()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "doc"

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == ["doc"] * 5
    assert calls == 1


async def test_a_load_that_began_before_a_forget_is_not_kept() -> None:
    ticks = Ticks()
    cache: TTLCache[str] = TTLCache(1.0, clock=ticks)
    gate = asyncio.Event()

    async def old() -> str:
        await gate.wait()
        return "old"

    async def new() -> str:
        return "new"

    slow = asyncio.create_task(cache.get("k", old))
    await asyncio.sleep(0)
    cache.forget(["k"])  # this replica stored a new render meanwhile
    assert await cache.get("k", new) == "new"
    gate.set()
    assert await slow == "old"  # its own caller gets what it read...
    assert await cache.get("k", old) == "new"  # ...but it is not what the cache keeps


async def test_a_reload_of_the_same_value_keeps_the_cached_object() -> None:
    ticks = Ticks()
    cache: TTLCache[list[str]] = TTLCache(1.0, same=lambda a, b: a == b, clock=ticks)
    first = await cache.get("k", _returning(["a"]))
    ticks.now += 2
    again = await cache.get("k", _returning(["a"]))
    assert again is first
    ticks.now += 2
    assert await cache.get("k", _returning(["b"])) == ["b"]


async def test_an_expired_value_found_current_is_kept_without_a_load() -> None:
    ticks = Ticks()
    cache: TTLCache[str] = TTLCache(1.0, clock=ticks)
    current = {"v1"}

    async def still_current(value: str) -> bool:
        return value in current

    assert await cache.get("k", _returning("v1"), still_current) == "v1"
    ticks.now += 1.0
    assert await cache.get("k", _returning("v2"), still_current) == "v1"
    assert (cache.loads, cache.revalidated) == (1, 1)
    current.clear()  # it changed
    ticks.now += 1.0
    assert await cache.get("k", _returning("v2"), still_current) == "v2"
    assert (cache.loads, cache.revalidated) == (2, 1)


async def test_entries_not_asked_for_are_dropped() -> None:
    ticks = Ticks()
    cache: TTLCache[int] = TTLCache(1.0, clock=ticks)
    await cache.get("idle", _returning(1))
    ticks.now += 5
    await cache.get("busy", _returning(2))
    assert len(cache) == 1


def _returning(value: Any) -> Any:
    async def load() -> Any:
        return value

    return load


# ---------------------------------------------------------------------- over HTTP


async def test_a_document_is_read_once_per_ttl(w: SimpleNamespace) -> None:
    first = await w.client.get(URL)
    assert first.status_code == 200 and first.content == BODY
    assert first.headers["content-type"] == ATOM
    assert first.headers["cache-control"] == "public, max-age=60"
    assert first.headers["link"] == (
        f'<{SITE}/websub>; rel="hub", <{SITE}/feeds/tehran/en.atom>; rel="self"'
    )
    assert first.headers["last-modified"] == "Thu, 01 May 2025 08:30:15 GMT"
    for _ in range(5):
        assert (await w.client.get(URL)).content == BODY
    assert w.store.reads == ["publisher/tehran/en.atom"]
    w.ticks.now += 1.0
    assert (await w.client.get(URL)).content == BODY
    # past the TTL, an unchanged document costs a read of its version, not of its body (the
    # first load read it too: was the render behind the feed's log?)
    assert w.store.reads == ["publisher/tehran/en.atom"]
    assert w.store.version_reads == ["publisher/tehran/en.atom"] * 2
    w.ticks.now += 0.99
    await w.client.get(URL)
    assert len(w.store.version_reads) == 2  # and is then good for another TTL


async def test_rss_is_served_from_memory_until_its_atom_document_changes(
    w: SimpleNamespace,
) -> None:
    rss_url, key = "/feeds/tehran/en.rss", "publisher/tehran/en.rss"
    atom = w.store.docs["publisher/tehran/en.atom"]
    await w.store.save_rendered(key, 7, b"<rss>line 7</rss>", RSS, UPDATED, atom.etag)
    assert (await w.client.get(rss_url)).content == b"<rss>line 7</rss>"
    w.ticks.now += 1.0
    assert (await w.client.get(rss_url)).content == b"<rss>line 7</rss>"
    assert w.store.reads.count(key) == 1
    # another replica renders both formats again
    await w.store.save_rendered(
        "publisher/tehran/en.atom", 8, BODY.replace(b"line 7", b"line 8"), ATOM, UPDATED
    )
    new_atom = w.store.docs["publisher/tehran/en.atom"].etag
    await w.store.save_rendered(key, 8, b"<rss>line 8</rss>", RSS, UPDATED, new_atom)
    w.ticks.now += 1.0
    assert (await w.client.get(rss_url)).content == b"<rss>line 8</rss>"


async def test_another_replica_s_render_shows_within_the_ttl(w: SimpleNamespace) -> None:
    old = await w.client.get(URL)
    newer = BODY.replace(b"line 7", b"line 8")
    etag = '"' + hashlib.sha256(newer).hexdigest()[:32] + '"'
    # written by another replica: straight into the database, past this replica's store
    w.store.docs["publisher/tehran/en.atom"] = Rendered(newer, ATOM, etag, UPDATED)
    w.ticks.now += 0.5
    assert (await w.client.get(URL)).headers["etag"] == old.headers["etag"]  # stale, bounded
    w.ticks.now += 0.5
    fresh = await w.client.get(URL)
    assert fresh.content == newer and fresh.headers["etag"] == etag


async def test_a_change_this_replica_consumed_is_served_at_once(w: SimpleNamespace) -> None:
    await w.client.get(URL)
    newer = BODY.replace(b"line 7", b"line 8")
    await w.feeds.store.save_rendered("publisher/tehran/en.atom", 8, newer, ATOM, UPDATED)
    await w.feeds.changed(FeedRef("publisher", "tehran", "en"))  # consumed here
    assert "publisher/tehran/en.atom" not in w.server.documents._values
    assert (await w.client.get(URL)).content == newer  # no clock moved
    await w.feeds.stop()


async def test_304_comes_from_the_cache(w: SimpleNamespace) -> None:
    first = await w.client.get(URL)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        resp = await w.client.get(URL, headers=headers)
        assert resp.status_code == 304, headers
        assert resp.content == b""
        assert resp.headers["etag"] == etag and "link" in resp.headers
        assert "content-length" not in resp.headers
    assert (await w.client.get(URL, headers={"If-None-Match": '"other"'})).status_code == 200
    earlier = "Thu, 01 May 2025 08:30:14 GMT"
    assert (await w.client.get(URL, headers={"If-Modified-Since": earlier})).status_code == 200
    assert len(w.store.reads) == 1


async def test_the_gzip_variant_is_the_document_compressed_once(
    w: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = cache_module.compress

    def counting(body: bytes) -> bytes:
        calls.append(len(body))
        return original(body)

    monkeypatch.setattr(cache_module, "compress", counting)
    plain = await w.client.get(URL, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding, Authorization, X-Feed-Token"
    for _ in range(3):
        resp = await w.client.get(URL, headers={"Accept-Encoding": "gzip, deflate"})
        assert resp.headers["content-encoding"] == "gzip"
        assert resp.content == BODY  # httpx decodes it
        assert resp.headers["vary"] == plain.headers["vary"]
        assert resp.headers["etag"] == plain.headers["etag"]
        assert int(resp.headers["content-length"]) < len(BODY) // 4
    assert calls == [len(BODY)]
    # the same document after the TTL (revalidated, not read again) keeps its gzip bytes
    w.ticks.now += 2
    assert (await w.client.get(URL, headers={"Accept-Encoding": "gzip"})).content == BODY
    assert calls == [len(BODY)] and len(w.store.reads) == 1


async def test_small_documents_go_out_uncompressed(w: SimpleNamespace) -> None:
    await w.store.save_rendered("publisher/tehran/ar.atom", 1, b"<feed/>", ATOM, UPDATED)
    atom = w.store.docs["publisher/tehran/ar.atom"].etag
    await w.store.save_rendered("publisher/tehran/ar.json", 1, b'{"items":[]}', ATOM, UPDATED, atom)
    resp = await w.client.get("/feeds/tehran/ar.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and "content-encoding" not in resp.headers
    assert resp.content == b'{"items":[]}'


async def test_gzip_bytes_are_what_gzip_makes(w: SimpleNamespace) -> None:
    resp = await w.client.get(URL, headers={"Accept-Encoding": "gzip"})
    doc = w.server.documents._values["publisher/tehran/en.atom"][1]
    headers, body = await doc.gzipped()
    assert gzip.decompress(body) == BODY and resp.content == BODY
    assert int(resp.headers["content-length"]) == len(body)
    assert (b"content-length", str(len(body)).encode()) in headers


async def test_routes_and_fast_path_answer_alike(w: SimpleNamespace) -> None:
    """A request with a ``traceparent`` goes through the routes (to be traced)."""
    traced = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    etag = (await w.client.get(URL)).headers["etag"]
    for headers in ({}, {"Accept-Encoding": "gzip"}, {"If-None-Match": etag}):
        fast = await w.client.get(URL, headers=headers)
        routed = await w.client.get(URL, headers={**headers, **traced})
        assert (fast.status_code, fast.content) == (routed.status_code, routed.content)
        for name in ("etag", "last-modified", "cache-control", "link", "content-encoding"):
            assert fast.headers.get(name) == routed.headers.get(name), (headers, name)
    for path in ("/feeds/tehran/en.xml", "/feeds/nowhere/en.atom", "/feeds/tehran/xx.atom"):
        fast = await w.client.get(path)
        routed = await w.client.get(path, headers=traced)
        assert fast.status_code == routed.status_code == 404
        assert fast.json() == routed.json()


async def test_partner_feeds_need_their_token_at_every_request(w: SimpleNamespace) -> None:
    key = "partner/kazan/fa.atom"
    await w.store.save_rendered(key, 3, BODY, ATOM, UPDATED)
    url = "/partners/kazan/fa.atom"
    missing = await w.client.get(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    forged = await w.client.get(url, headers={"X-Feed-Token": "cfp_kazan_forged"})
    assert forged.status_code == 401
    for headers, params in (
        ({"Authorization": f"Bearer {w.token}"}, {}),
        ({"X-Feed-Token": w.token}, {}),
        ({}, {"token": w.token}),
    ):
        ok = await w.client.get(url, headers=headers, params=params)
        assert ok.status_code == 200 and ok.content == BODY
        assert ok.headers["cache-control"] == "private, max-age=60"
    assert (await w.client.get(url)).status_code == 401  # cached document, still no entry


async def test_archives_are_cached_and_cacheable_for_a_day(w: SimpleNamespace) -> None:
    w.store.heads["publisher/tehran/en"] = 35  # pages 0..3; 0 and 1 are archived
    await w.store.save_rendered("publisher/tehran/en#0.atom", 0, BODY, ATOM, UPDATED)
    resp = await w.client.get("/feeds/tehran/en/archive/0.atom")
    assert resp.status_code == 200 and resp.content == BODY
    assert resp.headers["cache-control"] == "public, max-age=86400"
    assert f"<{SITE}/feeds/tehran/en/archive/0.atom>" in resp.headers["link"]
    again = await w.client.get(
        "/feeds/tehran/en/archive/0.atom", headers={"If-None-Match": resp.headers["etag"]}
    )
    assert again.status_code == 304
    assert w.store.reads.count("publisher/tehran/en#0.atom") == 1
    missing = await w.client.get("/feeds/tehran/en/archive/2.atom")
    assert missing.status_code == 404 and "does not exist" in missing.json()["reason"]


async def test_without_a_cache_every_request_reads_the_store() -> None:
    w = await make(ttl=0)
    for _ in range(3):
        assert (await w.client.get(URL)).content == BODY
    assert len(w.store.reads) == 3


async def test_other_routes_still_pass_the_gzip_middleware(w: SimpleNamespace) -> None:
    resp = await w.client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.headers.get("content-encoding") == "gzip"
