"""The feeds fast path (services/feeds/http/fast.py) in front of the app, and the compressed
variants (services/feeds/cache.py): the fast path gives the app's answers header for header
(200, 304, HEAD, gzip, archives, partner feeds), brotli where asked, keeps the cache's TTL and
forgetting, and hands everything else to the app. A store in memory stands in for the
database."""

from __future__ import annotations

import gzip
import hashlib
from types import SimpleNamespace

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI

from services.feeds.cache import negotiate
from services.feeds.http import install
from services.feeds.http.fast import FeedFastPath
from services.feeds.publishing import Feeds
from services.feeds.store import Rendered
from shared.registry import Registry, create_partner_token, save
from tests.unit.feeds.test_feeds_http import ATOM, BODY, SITE, UPDATED, FakeStore, Ticks
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

URL = "/feeds/tehran/en.atom"
KEY = "publisher/tehran/en.atom"
TRACED = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.fixture
async def w() -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = FakeStore()
    feeds = Feeds(store, registry, SITE, hub_url=f"{SITE}/websub")  # type: ignore[arg-type]
    ticks = Ticks()
    app = FastAPI()
    server = install(app, feeds, cache_seconds=1.0, clock=ticks)
    await store.save_rendered(KEY, 7, BODY, ATOM, UPDATED)
    fast = FeedFastPath(app, server)
    finds: list[str] = []
    find = server.find

    async def counted(kind, key, name, lang, token):  # type: ignore[no-untyped-def]
        finds.append(f"{kind}/{key}/{name}")
        return await find(kind, key, name, lang, token)

    server.find = counted  # type: ignore[method-assign]
    return SimpleNamespace(
        fast=httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url=SITE),
        app=httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE),
        store=store,
        feeds=feeds,
        ticks=ticks,
        token=token,
        finds=finds,
        path=fast,
        server=server,
    )


async def _both(
    w: SimpleNamespace, method: str, url: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The fast path's answer, and the app's without it (its FeedDocuments middleware)."""
    headers = {"Accept-Encoding": "identity", **headers}  # not httpx's own (which says br)
    fast = await w.fast.request(method, url, headers=headers)
    routed = await w.app.request(method, url, headers=headers)
    return fast, routed


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("GET", {"Accept-Encoding": "gzip"}),
        ("GET", {"Accept-Encoding": "gzip, deflate"}),
        ("GET", {"Accept-Encoding": "identity"}),
        ("HEAD", {}),
        ("HEAD", {"Accept-Encoding": "gzip"}),
        ("GET", {"If-Modified-Since": "Thu, 01 May 2025 08:30:15 GMT"}),
        ("GET", {"If-Modified-Since": "Thu, 01 May 2025 08:30:14 GMT"}),
    ],
)
async def test_the_fast_path_answers_as_the_app(
    w: SimpleNamespace, method: str, headers: dict[str, str]
) -> None:
    for _ in range(2):  # the first request finds the document, the second is a hot hit
        fast, routed = await _both(w, method, URL, headers)
        assert fast.status_code == routed.status_code
        assert sorted(fast.headers.multi_items()) == sorted(routed.headers.multi_items())
        assert fast.content == routed.content
    if method == "HEAD":
        get = await w.fast.get(URL, headers={"Accept-Encoding": "identity", **headers})
        assert fast.content == b"" and fast.headers == get.headers


async def test_brotli_where_asked_with_the_headers_of_gzip(w: SimpleNamespace) -> None:
    """Only the fast path offers brotli; the app answers the same request in gzip."""
    asked = {"Accept-Encoding": "gzip, deflate, br"}
    fast, routed = await _both(w, "GET", URL, asked)
    assert (fast.headers["content-encoding"], routed.headers["content-encoding"]) == ("br", "gzip")
    assert fast.content == routed.content == BODY  # httpx decodes both
    for name in ("etag", "last-modified", "cache-control", "link", "vary", "content-type"):
        assert fast.headers[name] == routed.headers[name]
    assert int(fast.headers["content-length"]) < int(routed.headers["content-length"])


async def test_304_for_every_variant_with_the_one_etag(w: SimpleNamespace) -> None:
    first = await w.fast.get(URL)
    etag = first.headers["etag"]
    assert first.headers["vary"].startswith("Accept-Encoding")
    for accept in ("identity", "gzip", "br", "gzip, br"):
        for tag in (etag, f"W/{etag}", f'"other", {etag}'):
            fast, routed = await _both(
                w, "GET", URL, {"Accept-Encoding": accept, "If-None-Match": tag}
            )
            assert fast.status_code == routed.status_code == 304
            assert fast.content == b"" and fast.headers["etag"] == etag
            assert "content-encoding" not in fast.headers
    changed = await w.fast.get(URL, headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.content == BODY


async def test_the_variants_are_the_document_compressed(w: SimpleNamespace) -> None:
    for accept, coding, decode in (
        ("gzip, deflate, br", "br", brotli.decompress),
        ("gzip", "gzip", gzip.decompress),
        ("gzip;q=0, br;q=0", None, bytes),
    ):
        async with w.fast.stream("GET", URL, headers={"Accept-Encoding": accept}) as answer:
            raw = b"".join([part async for part in answer.aiter_raw()])
        assert answer.headers.get("content-encoding") == coding
        assert decode(raw) == BODY and int(answer.headers["content-length"]) == len(raw)
        assert len(raw) < len(BODY) or coding is None


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("BR;Q=0.8, gzip;q=0.8", "br"),
        ("gzip;q=0", "identity"),
        ("*", "br"),
        ("br;q=0, *;q=0.1", "gzip"),
        ("*;q=0", "identity"),
        ("gzip;q=0.5, identity", "identity"),
        ("deflate", "identity"),
        ("gzip;q=nonsense", "identity"),
    ],
)
def test_accept_encoding_is_negotiated_with_its_q_values(header: str | None, coding: str) -> None:
    assert negotiate(header) == coding


async def test_a_hot_path_is_answered_without_finding_it_again(w: SimpleNamespace) -> None:
    for _ in range(5):
        assert (await w.fast.get(URL)).content == BODY
    assert w.finds == ["publisher/tehran/en.atom"]
    w.ticks.now += 1.0  # past the TTL: found (and revalidated) again, then hot for a TTL
    for _ in range(3):
        await w.fast.get(URL)
    assert len(w.finds) == 2


async def test_another_replica_s_render_shows_after_the_ttl(w: SimpleNamespace) -> None:
    old = await w.fast.get(URL)
    newer = BODY.replace(b"line 7", b"line 8")
    etag = '"' + hashlib.sha256(newer).hexdigest()[:32] + '"'
    w.store.docs[KEY] = Rendered(newer, ATOM, etag, UPDATED)  # past this replica's store
    w.ticks.now += 0.5
    assert (await w.fast.get(URL)).headers["etag"] == old.headers["etag"]
    w.ticks.now += 0.5
    fresh = await w.fast.get(URL)
    assert fresh.content == newer and fresh.headers["etag"] == etag


async def test_a_forgotten_document_is_served_anew_at_once(w: SimpleNamespace) -> None:
    """What this replica changes it forgets in its cache (FeedServer wires that): the fast path
    does not keep serving the old document from its table of hot paths."""
    await w.fast.get(URL)
    await w.fast.get(URL, headers={"Accept-Encoding": "br"})
    newer = BODY.replace(b"line 7", b"line 8")
    w.store.docs[KEY] = Rendered(newer, ATOM, '"newer"', UPDATED)
    w.server.documents.forget([KEY])
    assert (await w.fast.get(URL)).content == newer  # no clock moved
    br = await w.fast.get(URL, headers={"Accept-Encoding": "br"})  # httpx decodes it
    assert br.headers["content-encoding"] == "br" and br.content == newer


async def test_archives_are_served_and_kept_hot(w: SimpleNamespace) -> None:
    w.store.heads["publisher/tehran/en"] = 35  # pages 0..3; 0 and 1 are archived
    await w.store.save_rendered("publisher/tehran/en#1.atom", 20, BODY, ATOM, UPDATED)
    url = "/feeds/tehran/en/archive/1.atom"
    fast, routed = await _both(w, "GET", url, {"Accept-Encoding": "gzip"})
    assert fast.status_code == 200 and fast.content == BODY
    assert sorted(fast.headers.multi_items()) == sorted(routed.headers.multi_items())
    assert fast.headers["cache-control"] == "public, max-age=86400"
    w.finds.clear()
    for _ in range(3):
        assert (await w.fast.get(url)).content == BODY
    assert w.finds == []


async def test_partner_feeds_check_their_token_at_every_request(w: SimpleNamespace) -> None:
    await w.store.save_rendered("partner/kazan/fa.atom", 3, BODY, ATOM, UPDATED)
    url = "/partners/kazan/fa.atom"
    for _ in range(2):
        ok = await w.fast.get(url, headers={"Authorization": f"Bearer {w.token}"})
        assert ok.status_code == 200 and ok.headers["cache-control"] == "private, max-age=60"
        assert (await w.fast.get(url, params={"token": w.token})).status_code == 200
        missing = await w.fast.get(url)
        assert missing.status_code == 401 and "www-authenticate" in missing.headers
    assert url not in w.path.hot


async def test_anything_else_is_the_app_s(w: SimpleNamespace) -> None:
    for url in ("/feeds/nowhere/en.atom", "/feeds/tehran/xx.atom", "/feeds/tehran/en.yaml"):
        fast, routed = await _both(w, "GET", url, {})
        assert fast.status_code == routed.status_code == 404
        assert fast.json() == routed.json()
    assert (await w.fast.post(URL)).status_code == 405
    opml = await w.fast.get("/feeds.opml")
    assert opml.status_code == (await w.app.get("/feeds.opml")).status_code
    w.finds.clear()
    traced = await w.fast.get(URL, headers=TRACED)
    assert traced.status_code == 200 and w.finds == ["publisher/tehran/en.atom"]  # the route's
    assert URL not in w.path.hot


async def test_a_failing_find_is_answered_by_the_app(w: SimpleNamespace) -> None:
    async def down(*args: object) -> None:
        raise ConnectionError("the database is down")

    w.server.find = down
    for target in (w.path, w.path.app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=target, raise_app_exceptions=False), base_url=SITE
        )
        answer = await client.get(URL)
        assert answer.status_code == 500 and answer.text == "Internal Server Error"
