"""Pictures and galleries on the real stack (issue 21, item 5): a ninjs 3.1 picture item, a
ninjs 3.1 gallery (a composite of several pictures) and a clean article with images and no
body reach the publisher's feeds with their images, in every format (Atom enclosure links and
Media RSS, RSS Media RSS, JSON Feed attachments), in the source language and translated, the
captions translated with the article (the pseudo engine tags each segment ``[en] ``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from lxml import etree

from shared.persian import normalise
from tests.integration.conftest import System, await_feed

pytestmark = pytest.mark.integration

SCHEMA_31 = (
    Path(__file__).resolve().parents[2] / "services/ingest/schemas/ninjs/ninjs-schema_3.1.json"
)
PHOTOS = "https://jahanshahr.mashhad.ir/photos"
MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
LANGS = ("fa", "en")


@dataclass(frozen=True)
class Picture:
    """One image as every feed must show it: the largest rendition, its caption."""

    url: str
    caption: str


@dataclass(frozen=True)
class Item:
    """What was submitted and what the feeds must carry for it (in the source language)."""

    kind: str
    body: dict[str, Any]
    headline: str
    pictures: tuple[Picture, ...]


def renditions(name: str) -> list[dict[str, Any]]:
    """A large and a small rendition, as agencies send them (IPTC's 006_photo_only.json)."""
    return [
        {"name": "main", "href": f"{PHOTOS}/{name}-big.jpg", "contentType": "image/jpeg",
         "title": "Mid Resolution", "width": 1200, "height": 800},
        {"name": "small", "href": f"{PHOTOS}/{name}-small.jpg", "contentType": "image/jpeg",
         "title": "Low Resolution", "width": 300, "height": 200},
    ]  # fmt: skip


def picture_doc(uri: str, headline: str, description: str, name: str) -> dict[str, Any]:
    """A ninjs 3.1 picture item, IPTC's 006_photo_only.json in a Mashhad photographer's words."""
    return {
        "uri": uri,
        "type": "picture",
        "language": "fa",
        "versionCreated": "2025-01-20T08:12:00Z",
        "firstCreated": "2025-01-20T08:00:00Z",
        "by": "عکاس جهانشهر",
        "headlines": [{"role": "main", "value": headline}],
        "descriptions": [{"role": "text", "contentType": "text/plain", "value": description}],
        "renditions": renditions(name),
    }


def picture_item(tag: str) -> Item:
    headline = f"برف زمستانی در حرم مطهر {tag}"
    caption = "صحن انقلاب حرم مطهر امام رضا پس از بارش برف سنگین."
    doc = picture_doc(f"urn:newsml:mashhad.ir:2025:photo-{tag}", headline, caption, tag)
    return Item("picture", {"ninjs": doc}, headline, (Picture(f"{PHOTOS}/{tag}-big.jpg", caption),))


GALLERY = (
    ("bazaar", "بازار رضا در آستانه نوروز شلوغ است."),
    ("park", "کوه‌سنگی در نخستین روز بهار پر از خانواده‌ها شد."),
    ("tomb", "آرامگاه فردوسی در توس میزبان گردشگران نوروزی بود."),
)


def gallery_item(tag: str) -> Item:
    """A ninjs 3.1 composite of three pictures, its own description and no body."""
    headline = f"نوروز در مشهد در سه تصویر {tag}"
    pictures = [
        {"name": f"photo{n}", **picture_doc(f"urn:newsml:mashhad.ir:2025:{name}-{tag}",
                                           f"تصویر {n}", caption, f"{name}-{tag}")}
        for n, (name, caption) in enumerate(GALLERY, 1)
    ]  # fmt: skip
    doc = {
        "uri": f"urn:newsml:mashhad.ir:2025:gallery-{tag}",
        "type": "composite",
        "language": "fa",
        "versionCreated": "2025-03-21T09:00:00Z",
        "headlines": [{"role": "main", "value": headline}],
        "descriptions": [{"role": "text", "value": "گزارش تصویری جهانشهر از نوروز در مشهد."}],
        "associations": pictures,
    }
    shown = tuple(Picture(f"{PHOTOS}/{name}-{tag}-big.jpg", c) for name, c in GALLERY)
    return Item("gallery", {"ninjs": doc}, headline, shown)


def clean_item(tag: str) -> Item:
    """A clean article with two captioned images and no body."""
    headline = f"افتتاح پل عابر پیاده در بلوار وکیل‌آباد {tag}"
    shown = (
        Picture(f"{PHOTOS}/bridge-1-{tag}.jpg", "پل عابر پیاده تازه در شب."),
        Picture(f"{PHOTOS}/bridge-2-{tag}.jpg", "شهردار مشهد در مراسم افتتاح پل."),
    )
    images = [
        {"url": p.url, "caption": p.caption, "media_type": "image/jpeg", "width": 1600,
         "height": 900, "credit": "جهانشهر"}
        for p in shown
    ]  # fmt: skip
    body = {"headline": headline, "external_id": f"pictures-{tag}", "images": images}
    return Item("clean", body, headline, shown)


ITEMS = {"picture": picture_item, "gallery": gallery_item, "clean": clean_item}


def test_the_ninjs_documents_are_valid_ninjs_3_1() -> None:
    """The documents sent below are what IPTC's own schema accepts (no pass by luck). They
    name no ``$schema``: the 3.1 schema does not allow the property; ingest tells 3.x by its
    camelCase properties."""
    schema = json.loads(SCHEMA_31.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for make in (picture_item, gallery_item):
        errors = [e.message for e in validator.iter_errors(make("x").body["ninjs"])]
        assert not errors, errors


def in_language(item: Item, lang: str) -> tuple[str, tuple[Picture, ...]]:
    """(title, pictures) an entry must have in ``lang``: the source normalised as ingest does,
    and the pseudo engine's translation of each segment."""
    tagged = (lambda s: normalise(s)) if lang == "fa" else (lambda s: f"[{lang}] {normalise(s)}")
    pictures = tuple(Picture(p.url, tagged(p.caption)) for p in item.pictures)
    return tagged(item.headline), pictures


@pytest.mark.parametrize("kind", list(ITEMS))
async def test_pictures_reach_every_feed_format_with_translated_captions(
    http: httpx.AsyncClient, system: System, kind: str
) -> None:
    item = ITEMS[kind](uuid.uuid4().hex[:8])
    resp = await http.post(
        system.url("ingest", "/articles"), json=item.body, headers=system.auth("mashhad")
    )
    assert resp.status_code == 202, resp.text
    for lang in LANGS:
        title, pictures = in_language(item, lang)
        base = system.url("feeds", f"/feeds/mashhad/{lang}")
        await check_atom(http, f"{base}.atom", title, pictures)
        await check_rss(http, f"{base}.rss", title, pictures)
        await check_json(http, f"{base}.json", title, pictures)


def _entry(parsed: Any, title: str) -> Any:
    return next(e for e in parsed.entries if e.get("title") == title)


def _has(title: str) -> Any:
    return lambda f: any(e.get("title") == title for e in f.entries)


def _captions(raw: bytes, title: str, entry_tag: str, title_tag: str) -> list[str | None]:
    """The media:description of each media:content of the entry titled ``title``."""
    root = etree.fromstring(raw)
    for el in root.iter(entry_tag):
        if (el.findtext(title_tag) or "").strip() == title:
            return [c.findtext(f"{MEDIA}description") for c in el.iter(f"{MEDIA}content")]
    raise AssertionError(f"no entry {title!r}")


async def check_atom(
    http: httpx.AsyncClient, url: str, title: str, pictures: tuple[Picture, ...]
) -> None:
    parsed = await await_feed(http, url, _has(title))
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    entry = _entry(parsed, title)
    enclosures = [(e.get("href"), e.get("type"), e.get("title")) for e in entry.enclosures]
    assert enclosures == [(p.url, "image/jpeg", p.caption) for p in pictures], url
    assert [m["url"] for m in entry.get("media_content", [])] == [p.url for p in pictures], url
    raw = (await http.get(url)).content
    assert _captions(raw, title, f"{ATOM}entry", f"{ATOM}title") == [p.caption for p in pictures]


async def check_rss(
    http: httpx.AsyncClient, url: str, title: str, pictures: tuple[Picture, ...]
) -> None:
    parsed = await await_feed(http, url, _has(title))
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    media = _entry(parsed, title).get("media_content", [])
    assert [(m["url"], m.get("type")) for m in media] == [(p.url, "image/jpeg") for p in pictures]
    raw = (await http.get(url)).content
    assert _captions(raw, title, "item", "title") == [p.caption for p in pictures], url


async def check_json(
    http: httpx.AsyncClient, url: str, title: str, pictures: tuple[Picture, ...]
) -> None:
    """JSON Feed 1.1 (feedparser 6 does not read it): attachments with url, mime_type and the
    caption as title; the first picture as the item's image."""
    async with asyncio.timeout(60):
        while True:
            items = (await http.get(url)).json()["items"]
            item = next((i for i in items if i.get("title") == title), None)
            if item is not None:
                break
            await asyncio.sleep(0.1)  # poll interval while waiting for the event
    attachments = [(a["url"], a["mime_type"], a.get("title")) for a in item["attachments"]]
    assert attachments == [(p.url, "image/jpeg", p.caption) for p in pictures], url
    assert item["image"] == pictures[0].url
