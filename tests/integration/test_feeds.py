"""Feeds on the real stack: every kind, format and language valid; ids stable across a
correction; tombstones; archives; private partner feeds; conditional GET; WebSub push."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from typing import Any

import feedparser
import httpx
import pytest
from lxml import etree

from tests.integration.conftest import System, await_feed, await_history
from tests.support.websub_subscriber import running_subscriber

pytestmark = pytest.mark.integration

LANGS = ("fa", "ar", "en", "ru")
FORMATS = ("atom", "rss", "json")
ATOM = "{http://www.w3.org/2005/Atom}"
TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


async def submit(
    http: httpx.AsyncClient, system: System, publisher: str = "mashhad", **fields: Any
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    body = {
        "headline": f"بازدید شهردار مشهد از نمایشگاه فرهنگی {tag}",
        "body_text": "شهردار مشهد از نمایشگاه بازدید کرد.\n\nاین نمایشگاه تا پایان هفته باز است.",
        "external_id": f"feeds-{tag}",
        "subjects": ["culture"],
        **fields,
    }
    resp = await http.post(
        system.url("ingest", "/articles"), json=body, headers=system.auth(publisher)
    )
    assert resp.status_code in (200, 201, 202), resp.text
    return {**body, **resp.json()}


def headline(a: dict[str, Any], lang: str) -> str:
    return a["headline"] if lang == "fa" else f"[{lang}] {a['headline']}"


def has(title: str) -> Any:
    return lambda f: any(e.get("title") == title for e in f.entries)


def linked(title: str) -> Any:
    def done(f: Any) -> bool:
        entry = next((e for e in f.entries if e.get("title") == title), None)
        hreflangs = {link.get("hreflang") for link in (entry or {}).get("links", [])}
        return entry is not None and set(LANGS) <= hreflangs

    return done


def paths(lang: str) -> dict[str, str]:
    return {
        "publisher": f"/feeds/mashhad/{lang}",
        "network": f"/networks/metropolis/{lang}",
        "partner": f"/partners/kazan/{lang}",
    }


async def test_every_feed_kind_and_format_is_valid_in_every_language(
    http: httpx.AsyncClient, system: System
) -> None:
    a = await submit(http, system)
    token = {"Authorization": f"Bearer {system.partner_tokens['kazan']}"}
    for lang in LANGS:
        for kind, path in paths(lang).items():
            headers = token if kind == "partner" else {}
            for fmt in FORMATS:
                url = system.url("feeds", f"{path}.{fmt}")
                client = httpx.AsyncClient(timeout=10, headers=headers)
                async with client:
                    if fmt == "json":  # feedparser 6 does not read JSON Feed
                        await await_json(client, url, headline(a, lang))
                    else:  # Atom: until every translation is linked (they arrive one by one)
                        done = linked if fmt == "atom" else has
                        parsed = await await_feed(client, url, done(headline(a, lang)))
                        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
                resp = await http.get(url, headers=headers)
                assert resp.headers["etag"] and resp.headers["last-modified"]
                assert 'rel="hub"' in resp.headers["link"] and 'rel="self"' in resp.headers["link"]
                if fmt == "atom":
                    check_atom(resp.content, lang, a)
                elif fmt == "rss":
                    check_rss(resp.content, lang)
                else:
                    check_json(resp.content, lang, a)


async def await_json(client: httpx.AsyncClient, url: str, title: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            resp = await client.get(url)
            resp.raise_for_status()
            doc: dict[str, Any] = resp.json()
            if any(i.get("title") == title for i in doc["items"]):
                return doc
            await asyncio.sleep(0.1)  # poll interval while waiting for the event


def check_atom(raw: bytes, lang: str, a: dict[str, Any]) -> None:
    root = etree.fromstring(raw)
    assert root.get(XML_LANG) == lang
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None, tag
    rels = {link.get("rel") for link in root.findall(f"{ATOM}link")}
    assert {"self", "hub"} <= rels
    assert not [el for el in root.iter() if el.get("dir") is not None], "dir on an Atom element"
    entry = next(
        e for e in root.findall(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == headline(a, lang)
    )
    content = entry.findtext(f"{ATOM}content") or ""
    assert ('dir="rtl"' in content) == (lang in ("fa", "ar"))
    alternates = [
        (link.get("type"), link.get("hreflang"))
        for link in entry.findall(f"{ATOM}link")
        if link.get("rel", "alternate") == "alternate"
    ]
    assert len(alternates) == len(set(alternates)), alternates
    assert {h for _, h in alternates} == set(LANGS), alternates  # itself and its translations


def check_rss(raw: bytes, lang: str) -> None:
    channel = etree.fromstring(raw).find("channel")
    assert channel is not None
    assert channel.findtext("language") == lang
    # One language element per channel (the W3C validator: "should not include both").
    assert channel.find("{http://purl.org/dc/elements/1.1/}language") is None
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"


def check_json(raw: bytes, lang: str, a: dict[str, Any]) -> None:
    doc = json.loads(raw)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["language"] == lang
    assert doc["hubs"][0]["type"].lower() == "websub"
    item = next(i for i in doc["items"] if i["title"] == headline(a, lang))
    provenance = item.get("_city_syndication", {}).get("provenance")
    assert (provenance is None) == (lang == "fa")
    # Rendered on demand after the Atom document that links every translation (checked first):
    # the same links, not those of an older JSON render.
    alternates = item.get("_city_syndication", {}).get("alternates") or []
    assert {alt["language"] for alt in alternates} | {lang} == set(LANGS), alternates


async def test_rss_and_json_rendered_on_demand_never_lag_the_atom_document(
    http: httpx.AsyncClient, system: System
) -> None:
    a = await submit(http, system)
    base = system.url("feeds", "/feeds/mashhad/fa")
    await await_json(http, f"{base}.json", a["headline"])  # JSON and RSS rendered once ...
    await await_feed(http, f"{base}.rss", has(a["headline"]))
    corrected = f"{a['headline']} (اصلاح شد)"
    await submit(http, system, headline=corrected, external_id=a["external_id"])
    await await_feed(http, f"{base}.atom", has(corrected))  # ... then the feed changed
    titles = {i["title"] for i in (await http.get(f"{base}.json")).json()["items"]}
    assert corrected in titles and a["headline"] not in titles
    rss = feedparser.parse((await http.get(f"{base}.rss")).content)
    assert has(corrected)(rss) and not has(a["headline"])(rss)


async def test_a_correction_keeps_entry_ids_and_moves_updated(
    http: httpx.AsyncClient, system: System
) -> None:
    a = await submit(http, system)
    url = system.url("feeds", "/feeds/mashhad/en.atom")
    first = await await_feed(http, url, has(headline(a, "en")))
    before = next(e for e in first.entries if e.title == headline(a, "en"))
    corrected = f"{a['headline']} (اصلاح شد)"
    await submit(http, system, headline=corrected, external_id=a["external_id"])
    second = await await_feed(http, url, has(f"[en] {corrected}"))
    after = next(e for e in second.entries if e.title == f"[en] {corrected}")
    assert after.id == before.id
    assert after.updated > before.updated
    assert not any(e.title == before.title for e in second.entries)  # one entry per article


async def test_a_withdrawal_is_a_tombstone_in_atom_and_gone_from_rss_and_json(
    http: httpx.AsyncClient, system: System
) -> None:
    a = await submit(http, system)
    atom_url = system.url("feeds", "/feeds/mashhad/en.atom")
    live = await await_feed(http, atom_url, has(headline(a, "en")))
    entry_id = next(e.id for e in live.entries if e.title == headline(a, "en"))
    resp = await http.delete(
        system.url("ingest", f"/articles/{a['article_id']}"), headers=system.auth("mashhad")
    )
    assert resp.status_code in (200, 202), resp.text
    gone = await await_feed(http, atom_url, lambda f: not has(headline(a, "en"))(f))
    assert not gone.bozo
    root = etree.fromstring((await http.get(atom_url)).content)
    refs = [t.get("ref") for t in root.iter(f"{TOMBSTONES}deleted-entry")]
    assert entry_id in refs
    for fmt in ("rss", "json"):
        body = (await http.get(system.url("feeds", f"/feeds/mashhad/en.{fmt}"))).text
        assert a["headline"] not in body
    page = await http.get(system.url("feeds", f"/entries/{a['article_id']}/en"))
    assert page.status_code == 410


async def test_archives_page_back_through_everything_and_are_cacheable(
    http: httpx.AsyncClient, system: System
) -> None:
    size = int(system.env["FEEDS_ENTRIES_PER_FEED"])
    sent = {
        (await submit(http, system, publisher="gorgan"))["headline"] for _ in range(2 * size + 2)
    }
    url = system.url("feeds", "/feeds/gorgan/fa.atom")
    _, pages = await await_history(http, url, lambda es: sent <= {e.title for e in es}, timeout=120)
    assert pages >= 1  # a new partner can backfill everything, through the archives
    current = feedparser.parse((await http.get(url)).content)
    link = next(x.href for x in current.feed.links if x.rel == "prev-archive")
    resp = await http.get(link)
    assert resp.status_code == 200
    assert "max-age=86400" in resp.headers["cache-control"]
    again = await http.get(link, headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304
    page = etree.fromstring(resp.content)
    assert page.find("{http://purl.org/syndication/history/1.0}archive") is not None
    rels = {x.get("rel") for x in page.findall(f"{ATOM}link")}
    assert {"current", "next-archive", "self"} <= rels
    assert not feedparser.parse(resp.content).bozo
    missing = await http.get(link.replace("/archive/", "/archive/9999"))
    assert missing.status_code == 404


async def test_partner_feeds_need_the_partner_s_token(
    http: httpx.AsyncClient, system: System
) -> None:
    url = system.url("feeds", "/partners/kazan/en.atom")
    missing = await http.get(url)
    assert missing.status_code == 401 and "token" in missing.json()["reason"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await http.get(url, headers={"Authorization": "Bearer cfp_kazan_forged"})
    assert wrong.status_code == 401
    other = await http.get(url, params={"token": system.partner_tokens["istanbul"]})
    assert other.status_code == 401  # another partner's token
    ok = await http.get(url, params={"token": system.partner_tokens["kazan"]})
    assert ok.status_code == 200 and ok.headers["cache-control"].startswith("private")


async def test_partner_feed_is_filtered_by_subject(http: httpx.AsyncClient, system: System) -> None:
    wanted = await submit(http, system, subjects=["culture"])
    unwanted = await submit(http, system, subjects=["sport"])
    await await_feed(
        http, system.url("feeds", "/feeds/mashhad/en.atom"), has(headline(unwanted, "en"))
    )
    token = {"X-Feed-Token": system.partner_tokens["kazan"]}
    async with httpx.AsyncClient(timeout=10, headers=token) as client:
        feed = await await_feed(
            client, system.url("feeds", "/partners/kazan/en.atom"), has(headline(wanted, "en"))
        )
    assert not has(headline(unwanted, "en"))(feed)


async def test_conditional_get_and_compression(http: httpx.AsyncClient, system: System) -> None:
    url = system.url("feeds", "/networks/metropolis/en.atom")
    # Other tests' translations may re-render this feed at any moment: a 200 carrying a new
    # ETag means the content changed in between (then try again); the same ETag would be a bug.
    for _ in range(20):
        first = await http.get(url, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        if len(first.content) > 1024:
            assert first.headers.get("content-encoding") == "gzip"
        etag = first.headers["etag"]
        by_etag = await http.get(url, headers={"If-None-Match": etag})
        by_date = await http.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
        if by_etag.status_code == 200 and by_etag.headers["etag"] != etag:
            continue  # re-rendered in between
        assert by_etag.status_code == 304 and not by_etag.content
        if by_date.status_code == 200 and by_date.headers["etag"] != etag:
            continue
        assert by_date.status_code == 304
        return
    pytest.fail("the feed kept changing; conditional GET could not be checked")


async def test_directory_and_opml_list_every_public_feed(
    http: httpx.AsyncClient, system: System
) -> None:
    page = await http.get(system.url("feeds", "/feeds"))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    opml = etree.fromstring((await http.get(system.url("feeds", "/feeds.opml"))).content)
    urls = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    for lang in LANGS:
        for path in (f"/feeds/mashhad/{lang}", f"/networks/metropolis/{lang}"):
            assert any(u.startswith(system.url("feeds", path)) for u in urls), path
            assert system.url("feeds", path) in page.text
    assert not any("/partners/" in u for u in urls)  # private feeds are not listed


async def test_websub_subscriber_is_verified_and_receives_signed_updates(
    http: httpx.AsyncClient, system: System
) -> None:
    topic = system.url("feeds", "/feeds/tehran/en.atom")
    secret = "s3cret-for-the-test"
    with running_subscriber() as sub:
        resp = await http.post(
            system.url("feeds", "/websub"),
            data={
                "hub.mode": "subscribe",
                "hub.topic": topic,
                "hub.callback": sub.url,
                "hub.secret": secret,
                "hub.lease_seconds": "3600",
            },
        )
        assert resp.status_code == 202, resp.text
        verified = await sub.wait_verified("subscribe")
        assert verified["hub.topic"] == topic
        a = await submit(http, system, publisher="tehran")
        delivery = await sub.wait_for(lambda d: headline(a, "en").encode() in d.body, timeout=15)
        signature = delivery.headers["x-hub-signature"]
        expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
        assert delivery.headers["content-type"].startswith("application/atom+xml")
        assert not feedparser.parse(delivery.body).bozo
