"""Feed and HTTP conformance (issue 21): the rules the W3C feed validator applies, checked on
every feed kind and format (RFC 4287, the RSS 2.0 profile, Media RSS, JSON Feed 1.1), and HEAD
answered like GET without a body on every GET route of the feeds service.

The validator itself (w3c/feedvalidator, Python 3) is no package of any registry; where it is
importable (``PYTHONPATH`` with its ``src`` and html5lib), ``test_the_w3c_validator_*`` runs it
too and allows only its notes on our own namespaces (tombstones, provenance)."""

from __future__ import annotations

import dataclasses
import html
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any

import feedparser
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from services.feeds import activitypub, admin, http, portal
from services.feeds.publishing import Feeds
from services.feeds.render import FORMATS, Feed, Format, Image, Tombstone, render
from services.feeds.settings import FeedsSettings
from shared.registry import Registry, create_partner_token, save
from shared.service import health_router
from tests.unit.feeds.test_portal import SITE as PORTAL_SITE
from tests.unit.feeds.test_portal import Store, entry, publish
from tests.unit.feeds.test_render import (
    NS,
    PUBLISHED,
    SITE,
    archive_feed,
    make_entry,
    make_feed,
    permalink,
    tree,
)
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

KINDS = ("publisher", "network", "partner")
LANGUAGES = ("fa", "en")
IMAGES = (
    Image("https://news.mashhad.ir/1.jpg", "شهردار در متروپلیس", "image/jpeg", 800, 600),
    Image("https://news.mashhad.ir/2.png"),  # no type given: the extension names it
    Image("https://news.mashhad.ir/photo?id=3", "بی‌نام"),  # no type known at all
)


def feeds_of_every_kind() -> Iterator[tuple[str, Feed]]:
    """Every kind of feed document, live and archived, with the parts the rules are about:
    two versions' worth of entries, markup in a headline, images, a tombstone."""
    for kind in KINDS:
        for lang in LANGUAGES:
            source = f"{SITE}/feeds/mashhad/{lang}"
            photo = make_entry(lang, 2, source_feed=source, images=IMAGES)
            other = make_entry(
                lang, article_id="mashhad-7", headline="AT&T <b>now</b>", source_feed=source
            )
            gone = Tombstone(
                "mashhad-9", lang, PUBLISHED, permalink(lang, "mashhad-9"), "retracted"
            )
            title = "Kazan <private> & more" if kind == "partner" else f"Khorasan ({lang})"
            live = make_feed(kind, lang, photo, other, tombstones=(gone,), title=title)
            yield f"{kind}-{lang}", live
            archived = dataclasses.replace(archive_feed(lang), kind=live.kind)
            yield f"{kind}-{lang}-archive", archived


FEEDS = dict(feeds_of_every_kind())


# ---- Atom (RFC 4287) -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FEEDS)
def test_atom_feed_has_its_required_elements_once(name: str) -> None:
    root = tree(render(FEEDS[name], "atom"))
    for child in ("a:id", "a:title", "a:updated"):
        assert len(root.findall(child, NS)) == 1, child
    assert root.find("a:author/a:name", NS) is not None  # so no entry lacks an author
    assert [ln.get("rel") for ln in root.findall("a:link", NS)].count("self") == 1
    ids = [e.findtext("a:id", namespaces=NS) for e in root.findall("a:entry", NS)]
    assert len(ids) == len(set(ids))  # one entry per article and language, as its last version


@pytest.mark.parametrize("name", FEEDS)
def test_every_atom_entry_has_one_id_title_and_updated(name: str) -> None:
    for el in tree(render(FEEDS[name], "atom")).findall("a:entry", NS):
        for child in ("a:id", "a:title", "a:updated", "a:published", "a:content"):
            assert len(el.findall(child, NS)) == 1, child
        updated = datetime.fromisoformat(el.findtext("a:updated", namespaces=NS))
        published = datetime.fromisoformat(el.findtext("a:published", namespaces=NS))
        assert updated.tzinfo is not None and updated >= published
        alternates = [
            (ln.get("type"), ln.get("hreflang"))
            for ln in el.findall("a:link", NS)
            if ln.get("rel", "alternate") == "alternate"
        ]
        assert len(alternates) == len(set(alternates))  # RFC 4287 4.1.1


@pytest.mark.parametrize("name", [n for n in FEEDS if not n.startswith("publisher")])
def test_an_aggregated_entry_names_its_whole_source(name: str) -> None:
    for el in tree(render(FEEDS[name], "atom")).findall("a:entry", NS):
        source = el.find("a:source", NS)
        assert source is not None
        for child in ("a:id", "a:title", "a:updated"):
            assert source.findtext(child, namespaces=NS), child
        assert source.findtext("a:updated", namespaces=NS) == el.findtext(
            "a:updated", namespaces=NS
        )
        if "archive" not in name:
            [link] = source.findall("a:link", NS)
            lang = el.get("{http://www.w3.org/XML/1998/namespace}lang")
            assert link.attrib == {
                "rel": "self",
                "type": "application/atom+xml",
                "href": f"{SITE}/feeds/mashhad/{lang}.atom",
            }


def test_a_publisher_entry_has_no_source() -> None:
    root = tree(render(FEEDS["publisher-en"], "atom"))
    assert root.find("a:entry/a:source", NS) is None


def test_a_source_link_that_is_not_http_is_left_out() -> None:
    bad = make_entry("en", source_feed="javascript:alert(1)//")
    root = tree(render(make_feed("network", "en", bad), "atom"))
    assert root.find("a:entry/a:source/a:updated", NS) is not None
    assert root.find("a:entry/a:source/a:link", NS) is None


# ---- RSS 2.0 and its profile -----------------------------------------------------------------


@pytest.mark.parametrize("name", FEEDS)
def test_an_rss_channel_has_one_language_element(name: str) -> None:
    """'A channel should not include both language and dc:language': RSS's own stays; each
    item keeps its dc:language (items have no other)."""
    channel = tree(render(FEEDS[name], "rss")).find("channel")
    assert channel.findtext("language") == FEEDS[name].language
    assert channel.find("dc:language", NS) is None
    for item in channel.findall("item"):
        assert len(item.findall("dc:language", NS)) == 1


@pytest.mark.parametrize("name", FEEDS)
def test_an_rss_channel_and_its_items_have_what_rss_requires(name: str) -> None:
    channel = tree(render(FEEDS[name], "rss")).find("channel")
    for child in ("title", "link", "description", "lastBuildDate"):
        assert len(channel.findall(child)) == 1, child
    assert [ln.get("rel") for ln in channel.findall("a:link", NS)].count("self") == 1
    for item in channel.findall("item"):
        assert item.findtext("guid") and item.find("author") is None  # <author> is an email
        parsedate_to_datetime(item.findtext("pubDate"))  # RFC 822
        assert len(item.findall("link")) == 1


def test_a_title_with_markup_is_escaped_and_declared() -> None:
    """The RSS profile: ``&`` and ``<`` in a title as ``&#x26;`` and ``&#x3C;``; in a CDATA
    section, so the reader gets the references as written (and decodes them as HTML)."""
    raw = render(FEEDS["publisher-en"], "rss")
    assert b"<title><![CDATA[AT&#x26;T &#x3C;b&#x3E;now&#x3C;/b&#x3E;]]></title>" in raw
    titles = [html.unescape(e.title) for e in feedparser.parse(raw).entries]  # read as HTML
    assert "AT&T <b>now</b>" in titles
    atom = tree(render(FEEDS["partner-en"], "atom"))
    assert atom.find("a:title", NS).get("type") == "html"  # RFC 4287: markup-like text, escaped
    parsed = feedparser.parse(render(FEEDS["partner-en"], "atom")).feed.title_detail
    assert parsed.type == "text/html" and html.unescape(parsed.value) == "Kazan <private> & more"
    plain = render(make_feed("publisher", "en", make_entry("en", headline="Q&A")), "rss")
    assert b"<title>Q&amp;A</title>" in plain  # no markup: as before


@pytest.mark.parametrize("name", [n for n in FEEDS if not n.startswith("publisher")])
def test_an_aggregated_rss_item_names_its_source(name: str) -> None:
    if "archive" in name:
        return  # archive_feed's entry has no source feed
    for item in tree(render(FEEDS[name], "rss")).findall("channel/item"):
        source = item.find("source")
        assert source is not None and source.text
        assert (
            source.get("url")
            == f"{SITE}/feeds/mashhad/{item.findtext('dc:language', namespaces=NS)}.rss"
        )


# ---- images in every format ----------------------------------------------------------------


def test_images_are_atom_enclosures_and_media_rss() -> None:
    root = tree(render(FEEDS["network-fa"], "atom"))
    el = root.find("a:entry", NS)  # the photo story, first
    enclosures = [dict(ln.attrib) for ln in el.findall("a:link[@rel='enclosure']", NS)]
    assert enclosures == [
        {
            "rel": "enclosure",
            "href": IMAGES[0].url,
            "type": "image/jpeg",
            "title": "شهردار در متروپلیس",
        },
        {"rel": "enclosure", "href": IMAGES[1].url, "type": "image/png"},
        {"rel": "enclosure", "href": IMAGES[2].url, "title": "بی‌نام"},
    ]
    assert [m.get("url") for m in el.findall("media:content", NS)] == [i.url for i in IMAGES]
    parsed = feedparser.parse(render(FEEDS["network-fa"], "atom")).entries[0]
    assert [e["href"] for e in parsed.enclosures] == [i.url for i in IMAGES]
    item = tree(render(FEEDS["network-fa"], "rss")).find("channel/item")
    assert [m.get("url") for m in item.findall("media:content", NS)] == [i.url for i in IMAGES]


def test_images_are_json_feed_attachments() -> None:
    doc = json.loads(render(FEEDS["partner-en"], "json"))
    item = doc["items"][0]
    assert item["image"] == IMAGES[0].url
    assert item["attachments"] == [
        {"url": IMAGES[0].url, "mime_type": "image/jpeg", "title": "شهردار در متروپلیس"},
        {"url": IMAGES[1].url, "mime_type": "image/png"},
    ]  # the third has no MIME type, which an attachment requires


def test_an_entry_without_images_is_unchanged() -> None:
    bare = make_feed("network", "en", make_entry("en", images=()))
    for fmt in ("atom", "rss"):
        assert b"enclosure" not in render(bare, fmt) and b"media:" not in render(bare, fmt)
    assert "attachments" not in json.loads(render(bare, "json"))["items"][0]


# ---- the W3C feed validator, where it can be imported --------------------------------------

#: The validator's notes allowed: our own namespaces it cannot know (RFC 6721 and provenance).
OWN_NAMESPACES = ("purl.org/atompub/tombstones/1.0", "city-syndication.org/ns/provenance/1.0")


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize("name", FEEDS)
def test_the_w3c_validator_finds_nothing_but_our_namespaces(name: str, fmt: Format) -> None:
    validator = pytest.importorskip("feedvalidator")
    from feedvalidator import compatibility  # type: ignore[import-not-found]
    from feedvalidator.formatter.text_plain import Formatter  # type: ignore[import-not-found]

    feed = FEEDS[name]
    raw = render(feed, fmt)
    base = f"{feed.links.self_base}.{fmt}"
    events = validator.validateString(raw, firstOccurrenceOnly=1, base=base)["loggedEvents"]
    found = Formatter(compatibility.AA(events))
    assert [line for line in found if not any(ns in line for ns in OWN_NAMESPACES)] == []


# ---- HEAD on every GET route ---------------------------------------------------------------

ADMIN = "conformance-admin-token-7c1e5a9b3d2f"
#: A value for each path parameter of the routes, one that finds something where it can.
PARAMETERS = {
    "publisher": "tehran",
    "network": "metropolis",
    "partner": "kazan",
    "partner_id": "kazan",
    "publisher_id": "tehran",
    "article_id": "tehran-1",
    "root": "feeds",
    "key": "tehran",
    "lang": "en",
    "code": "fa",  # the language switch
}


def get_routes(routes: list[BaseRoute]) -> Iterator[str]:
    """The path of every route that answers GET, through included routers of any depth."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            prefix = getattr(route.include_context, "prefix", "") or ""  # type: ignore[attr-defined]
            yield from (prefix + path for path in get_routes(included.routes))
        elif isinstance(route, APIRoute | Route) and "GET" in (route.methods or ()):
            yield route.path


def concrete(path: str) -> str:
    """``path`` with its parameters filled in (a feed document or page name by what it is)."""
    name = "pages.css" if path.startswith("/assets/") else "en.atom"
    if "/archive/" in path:
        name = "0.atom"
    out = path.replace("{name}", name)
    for key, value in PARAMETERS.items():
        out = out.replace(f"{{{key}}}", value)
    assert "{" not in out, f"no value for a parameter of {path}"
    return out


@pytest.fixture
async def service() -> SimpleNamespace:
    """The feeds service's routes as the app installs them (services/feeds/app.py), over
    stores in memory, and the service's health routes."""
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = EntryStore()
    feeds = Feeds(store, registry, PORTAL_SITE)  # type: ignore[arg-type]
    app = FastAPI()
    server = http.install(app, feeds, cache_seconds=0)
    portal.install(app, server)
    admin.install(app, registry, db, ADMIN)  # type: ignore[arg-type]
    activitypub.install(app, activitypub.build(FeedsSettings(), db, feeds))  # type: ignore[arg-type]
    app.include_router(health_router(_runtime()))  # type: ignore[arg-type]
    en = entry("en", "Tehran metro reaches the north", "<p>Line seven opened.</p>" * 200)
    for feed in ("publisher/tehran/en", "network/metropolis/en", "partner/kazan/fa"):
        await publish(store, feed, feed.rsplit("/", 1)[1], en)
    store.entries["tehran-1:en"] = {**dataclasses.asdict(en), "status": "active", "url": None}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PORTAL_SITE)
    return SimpleNamespace(app=app, client=client, token=token)


class EntryStore(Store):
    """The portal tests' store, with the stored-entry read of the ninjs routes (none here)."""

    async def stored(self, article_id: str, language: str) -> None:
        return None

    async def page_items(self, feed: str, pages: list[int], seq: int) -> list[Any]:
        return []


def _runtime() -> SimpleNamespace:
    """What the health routes read of a runtime: a database and broker that answer."""

    async def ping(*_: Any, **__: Any) -> bool:
        return True

    db = SimpleNamespace(command=ping)
    return SimpleNamespace(
        name="feeds", watch=None, metrics=None, db=db, broker=SimpleNamespace(ping=ping)
    )


def test_the_service_routes_are_all_here() -> None:
    """The test app has every GET route of the real one (so none escapes the test below). The
    real app is made in a process of its own: making it sets up the service's logging."""
    script = (
        "import json; from services.feeds.app import create; "
        "from tests.unit.feeds.test_conformance import get_routes; "
        "print(json.dumps(sorted(set(get_routes(create().routes)))))"
    )
    made = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    real = set(json.loads(made.stdout.strip().splitlines()[-1]))
    assert "/feeds/{publisher}/{name}" in real
    assert real - {"/metrics"} <= set(_service_paths())


def _service_paths() -> Iterator[str]:
    app = FastAPI()
    feeds = Feeds(Store(), None, SITE)  # type: ignore[arg-type]
    server = http.install(app, feeds, cache_seconds=0)
    portal.install(app, server)
    admin.install(app, None, None, ADMIN)  # type: ignore[arg-type]
    activitypub.install(app, activitypub.build(FeedsSettings(), FakeDb(), feeds))  # type: ignore[arg-type]
    app.include_router(health_router(_runtime()))  # type: ignore[arg-type]
    return get_routes(app.routes)


HEADERS_COMPARED = (
    "etag",
    "last-modified",
    "content-length",
    "content-type",
    "content-encoding",
    "cache-control",
    "link",
    "vary",
    "allow",
    "www-authenticate",
)


@pytest.mark.parametrize("gzip", [False, True])
async def test_head_is_get_without_its_body_on_every_get_route(
    service: SimpleNamespace, gzip: bool
) -> None:
    paths = sorted(set(get_routes(service.app.routes)))
    assert "/feeds/{publisher}/{name}" in paths and "/feeds.opml" in paths
    seen_ok = []
    for path in paths:
        url = concrete(path)
        headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
        if path.startswith("/admin/"):
            headers["Authorization"] = f"Bearer {ADMIN}"
        else:
            headers["X-Feed-Token"] = service.token
        got = await service.client.get(url, headers=headers)
        head = await service.client.head(url, headers=headers)
        assert head.status_code == got.status_code != 405, url
        assert head.content == b"", url
        for name in HEADERS_COMPARED:
            assert head.headers.get(name) == got.headers.get(name), (url, name)
        if "content-length" in got.headers:
            assert int(head.headers["content-length"]) == got.num_bytes_downloaded, url
        if got.status_code == 200:
            seen_ok.append(path)
    # The answers compared are real ones, not just refusals.
    for path in ("/feeds/{publisher}/{name}", "/feeds", "/feeds.opml", "/admin/registry"):
        assert path in seen_ok, path
    assert "/entries/{article_id}/{lang}" in seen_ok


async def test_head_of_a_feed_has_its_etag_and_answers_its_conditions(
    service: SimpleNamespace,
) -> None:
    url = "/feeds/tehran/en.atom"
    got = await service.client.get(url)
    head = await service.client.head(url)
    assert head.headers["etag"] == got.headers["etag"] and head.headers["last-modified"]
    again = await service.client.head(url, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    gzipped = await service.client.head(url, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    private = await service.client.head("/partners/kazan/fa.atom")
    assert private.status_code == 401 and private.content == b""


async def test_other_methods_pass_untouched(service: SimpleNamespace) -> None:
    answer = await service.client.post("/feeds/tehran/en.atom")
    assert answer.status_code == 405


def test_every_format_renders() -> None:
    for feed in FEEDS.values():
        for fmt in FORMATS:
            assert render(feed, fmt)


async def test_head_of_a_streamed_body_sends_none_of_it() -> None:
    from fastapi.responses import StreamingResponse

    from services.feeds.http.head import HeadAsGet

    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> Any:
            for part in (b"one ", b"two ", b"three"):
                yield part

        return StreamingResponse(parts(), media_type="text/plain")

    app.add_middleware(HeadAsGet)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE)
    assert (await client.get("/stream")).content == b"one two three"
    head = await client.head("/stream")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/plain")
