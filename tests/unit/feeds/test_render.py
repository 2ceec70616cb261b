"""The feed renderer: valid Atom / RSS / JSON Feed in every language and kind, and what feedgen
gets wrong put right (entry link attributes, RSS hub and archive links, per-entry language)."""

import dataclasses
import html
import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, ClassVar

import feedparser
import pytest
from lxml import etree

from services.feeds.directory import Listing, render_directory, render_opml
from services.feeds.render import (
    FORMATS,
    MEDIA_TYPES,
    Alternate,
    Entry,
    Feed,
    FeedLinks,
    Format,
    Image,
    Tombstone,
    entry_id,
    feed_id,
    render,
)
from shared.languages import is_rtl

NS = {
    "a": "http://www.w3.org/2005/Atom",
    "at": "http://purl.org/atompub/tombstones/1.0",
    "fh": "http://purl.org/syndication/history/1.0",
    "cs": "https://city-syndication.org/ns/provenance/1.0",
    "media": "http://search.yahoo.com/mrss/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
LANGUAGES = ("fa", "ar", "en", "ru")
KINDS = ("publisher", "network", "partner")
HEADLINES = {
    "fa": "شهردار مشهد از متروپلیس بازدید کرد",
    "ar": "عمدة مشهد يزور متروبوليس",
    "en": "Mashhad mayor visits Metropolis",
    "ru": "Мэр Мешхеда посетил Метрополис",
}
BODIES = {
    "fa": "<p>شهردار مشهد در سفری دو روزه از متروپلیس بازدید کرد.</p>",
    "ar": "<p>زار عمدة مشهد متروبوليس في رحلة تستغرق يومين.</p>",
    "en": "<p>The mayor of Mashhad visited Metropolis on a two-day trip.</p>",
    "ru": "<p>Мэр Мешхеда посетил Метрополис с двухдневным визитом.</p>",
}
PUBLISHED = datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC)
SITE = "https://feeds.example.org"
PROVENANCE: dict[str, Any] = {
    "method": "machine",
    "engine": "ctranslate2",
    "model": "m2m100_418M",
    "model_version": "2024-01-15",
    "glossary_version": "7",
    "pivot": None,
    "reviewed": False,
    "needs_review": True,
    "translated_at": datetime(2025, 4, 29, 4, 10, tzinfo=UTC),
    "missing_terms": ["متروپلیس"],
}


def permalink(lang: str, article: str = "mashhad-1314415") -> str:
    return f"{SITE}/entries/{article}/{lang}"


def make_entry(lang: str = "fa", version: int = 1, **changes: Any) -> Entry:
    entry = Entry(
        article_id="mashhad-1314415",
        language=lang,
        version=version,
        headline=HEADLINES[lang],
        body_html=BODIES[lang],
        published=PUBLISHED,
        updated=PUBLISHED + timedelta(minutes=10 * version),
        publisher="mashhad",
        publisher_name="شهرداری مشهد",
        link=permalink(lang),
        source_url="https://news.mashhad.ir/1314415",
        subjects=("city diplomacy", "مترو"),
        images=(
            Image("https://news.mashhad.ir/1.jpg", "شهردار در متروپلیس", "image/jpeg", 800, 600),
        ),
        alternates=tuple(
            Alternate(other, permalink(other)) for other in LANGUAGES if other != lang
        ),
        provenance=None if lang == "fa" else PROVENANCE,
    )
    return dataclasses.replace(entry, **changes)


def make_feed(kind: str = "publisher", lang: str = "fa", *entries: Entry, **changes: Any) -> Feed:
    base = f"{SITE}/{kind}s/khorasan/{lang}"
    feed = Feed(
        kind=kind,  # type: ignore[arg-type]
        key="khorasan",
        language=lang,
        title=f"Khorasan ({lang})",
        author="شهرداری مشهد",
        links=FeedLinks(self_base=base, hub=f"{SITE}/websub", html=f"{SITE}/feeds"),
        updated=PUBLISHED + timedelta(hours=1),
        subtitle="City news",
        entries=entries or (make_entry(lang),),
    )
    return dataclasses.replace(feed, **changes)


def archive_feed(lang: str = "fa") -> Feed:
    base = f"{SITE}/feeds/khorasan/{lang}"
    links = FeedLinks(
        self_base=f"{base}/archive/3",
        current_base=base,
        prev_archive_base=f"{base}/archive/2",
        next_archive_base=f"{base}/archive/4",
    )
    return make_feed("publisher", lang, links=links, archive=True)


def parsed(raw: bytes) -> Any:
    result = feedparser.parse(raw)
    assert not result.bozo, result.get("bozo_exception")
    return result


def tree(raw: bytes) -> Any:
    return etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))


def page_links(root: Any) -> list[Any]:
    """An Atom entry's links but its images' enclosure links."""
    return [ln for ln in root.findall("a:entry/a:link", NS) if ln.get("rel") != "enclosure"]


def json_feed(raw: bytes) -> dict[str, Any]:
    """Parse and check against JSON Feed 1.1 (feedparser 6.0 reads no JSON)."""
    doc: dict[str, Any] = json.loads(raw.decode("utf-8"))
    top = {
        "version",
        "title",
        "home_page_url",
        "feed_url",
        "description",
        "user_comment",
        "next_url",
        "icon",
        "favicon",
        "authors",
        "language",
        "expired",
        "hubs",
        "items",
    }
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and doc["title"]
    assert all(key in top or key.startswith("_") for key in doc)
    for key in ("home_page_url", "feed_url", "next_url"):
        assert key not in doc or doc[key].startswith("https://")
    for hub in doc.get("hubs", []):
        assert set(hub) == {"type", "url"}
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html") or item.get("content_text"), str)
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).utcoffset() is not None
        assert all(isinstance(tag, str) for tag in item.get("tags", []))
        assert all(isinstance(a["name"], str) for a in item.get("authors", []))
        assert all(a["url"] and a["mime_type"] for a in item.get("attachments", []))
    return doc


# ---- every format, language and kind -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_xml_feeds_are_valid_in_every_language_and_kind(fmt: Format, lang: str, kind: str) -> None:
    feed = make_feed(kind, lang)
    result = parsed(render(feed, fmt))
    assert result.version == ("atom10" if fmt == "atom" else "rss20")
    assert result.feed.title == feed.title
    assert result.feed.language == lang
    assert result.feed.link == f"{SITE}/feeds"
    [item] = result.entries
    assert item.id == entry_id("mashhad-1314415", lang)
    assert item.title == HEADLINES[lang]
    direction = "rtl" if lang in ("fa", "ar") else "ltr"
    html = item.content[0].value if fmt == "atom" else item.summary
    assert html == f'<div dir="{direction}" lang="{lang}">{BODIES[lang]}</div>'
    if fmt == "atom":
        assert result.feed.id == feed_id(kind, "khorasan", lang)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_json_feeds_are_valid_in_every_language_and_kind(lang: str, kind: str) -> None:
    doc = json_feed(render(make_feed(kind, lang), "json"))
    assert doc["language"] == lang
    assert doc["feed_url"] == f"{SITE}/{kind}s/khorasan/{lang}.json"
    assert doc["_city_syndication"]["kind"] == kind
    assert doc["_city_syndication"]["id"] == feed_id(kind, "khorasan", lang)
    [item] = doc["items"]
    assert item["id"] == entry_id("mashhad-1314415", lang)
    assert item["title"] == HEADLINES[lang]
    assert item["language"] == lang
    direction = "rtl" if lang in ("fa", "ar") else "ltr"
    assert item["content_html"] == f'<div dir="{direction}" lang="{lang}">{BODIES[lang]}</div>'


def test_ids_never_change() -> None:
    # Values of the scheme in use since the first release: subscribers key on them.
    assert entry_id("mashhad-abc", "fa") == "urn:uuid:c899ba58-d915-5465-847f-1d68da164978"
    assert feed_id("publisher", "mashhad", "fa") == "urn:uuid:ca8edd1c-84b0-5f29-8cf5-6ab5588cf636"
    assert feed_id("network", "mashhad", "fa") != feed_id("publisher", "mashhad", "fa")
    assert entry_id("mashhad-abc", "fa") != entry_id("mashhad-abc", "en")


def test_rtl_languages() -> None:
    assert is_rtl("fa") and is_rtl("ar") and is_rtl("fa-IR") and is_rtl("AR")
    assert not is_rtl("en") and not is_rtl("ru")


def test_media_types_and_formats() -> None:
    assert FORMATS == ("atom", "rss", "json")
    assert MEDIA_TYPES["json"] == "application/feed+json; charset=utf-8"
    assert MEDIA_TYPES["atom"] == "application/atom+xml; charset=utf-8"
    assert MEDIA_TYPES["rss"] == "application/rss+xml; charset=utf-8"


# ---- Atom ----------------------------------------------------------------------------------


def test_atom_feed_has_the_required_elements_and_links() -> None:
    root = tree(render(make_feed("network", "fa"), "atom"))
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fa"
    assert root.findtext("a:id", namespaces=NS) == feed_id("network", "khorasan", "fa")
    assert root.findtext("a:title", namespaces=NS) == "Khorasan (fa)"
    assert root.findtext("a:updated", namespaces=NS) == "2025-04-29T04:51:53+00:00"
    assert root.findtext("a:author/a:name", namespaces=NS) == "شهرداری مشهد"
    links = {(ln.get("rel"), ln.get("type")): ln.get("href") for ln in root.findall("a:link", NS)}
    assert links == {
        ("self", "application/atom+xml"): f"{SITE}/networks/khorasan/fa.atom",
        ("hub", None): f"{SITE}/websub",
        ("alternate", "text/html"): f"{SITE}/feeds",
    }
    generator = root.find("a:generator", NS)
    assert generator.text == "city-syndication" and generator.get("version") is None


def test_atom_entry_has_language_dates_author_and_categories() -> None:
    entry = make_entry("ar", byline="مراسل")
    root = tree(render(make_feed("publisher", "ar", entry, make_entry("ar", byline=None)), "atom"))
    first, second = root.findall("a:entry", NS)
    assert first.get("{http://www.w3.org/XML/1998/namespace}lang") == "ar"
    assert first.findtext("a:published", namespaces=NS) == "2025-04-29T03:51:53+00:00"
    assert first.findtext("a:updated", namespaces=NS) == "2025-04-29T04:01:53+00:00"
    assert first.findtext("a:author/a:name", namespaces=NS) == "مراسل"
    assert second.findtext("a:author/a:name", namespaces=NS) == "شهرداری مشهد"  # feed author
    terms = [c.get("term") for c in first.findall("a:category", NS)]
    assert terms == ["city diplomacy", "مترو"]
    content = first.find("a:content", NS)
    assert content.get("type") == "html"


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_direction_is_only_in_the_html_never_on_feed_elements(fmt: Format, lang: str) -> None:
    raw = render(make_feed("publisher", lang), fmt)
    assert not [el.tag for el in tree(raw).iter() if "dir" in el.attrib]
    assert b"CDATA" not in raw  # feedgen's type="CDATA" is invalid Atom
    assert (b'&lt;div dir="rtl"' in raw) is (lang in ("fa", "ar"))


def test_entry_links_keep_rel_type_and_hreflang() -> None:
    alternates = (
        Alternate("en", permalink("en")),
        Alternate("fa", permalink("fa") + "?again"),  # the entry's own language
        Alternate("ar", permalink("ar")),
        Alternate("en", permalink("en") + "?duplicate"),
        Alternate("ru", permalink("ru")),
    )
    entry = make_entry("fa", alternates=alternates)
    root = tree(render(make_feed("publisher", "fa", entry), "atom"))
    links = [dict(ln.attrib) for ln in page_links(root)]
    assert links == [
        {"href": permalink(lang), "rel": "alternate", "type": "text/html", "hreflang": lang}
        for lang in ("fa", "en", "ar", "ru")
    ] + [{"href": "https://news.mashhad.ir/1314415", "rel": "via"}]
    alternate = [(ln["type"], ln["hreflang"]) for ln in links if ln["rel"] == "alternate"]
    assert len(alternate) == len(set(alternate))
    item = parsed(render(make_feed("publisher", "fa", entry), "atom")).entries[0]
    assert [ln.get("hreflang") for ln in item.links] == ["fa", "en", "ar", "ru", None, None]


def test_rss_items_link_their_own_page_and_the_other_languages() -> None:
    entry = make_entry("fa", alternates=(Alternate("ar", permalink("ar")), Alternate("fa", "x")))
    raw = render(make_feed("publisher", "fa", entry), "rss")
    item = tree(raw).find("channel/item")
    assert item.findtext("link") == permalink("fa")
    links = [dict(ln.attrib) for ln in item.findall("a:link", NS)]
    assert links == [
        {"href": permalink("ar"), "rel": "alternate", "type": "text/html", "hreflang": "ar"},
        {"href": "https://news.mashhad.ir/1314415", "rel": "via"},
    ]
    assert parsed(raw).entries[0].link == permalink("fa")


def test_without_a_permalink_alternates_still_skip_the_own_language() -> None:
    entry = make_entry(
        "en", link=None, alternates=(Alternate("en", f"{SITE}/x"), Alternate("fa", f"{SITE}/y"))
    )
    root = tree(render(make_feed("publisher", "en", entry), "atom"))
    hreflangs = [ln.get("hreflang") for ln in page_links(root)]
    assert hreflangs == ["fa", None]  # the via link has none


def test_aggregated_entries_name_their_source_feed() -> None:
    network = tree(render(make_feed("network", "ru"), "atom"))
    assert network.findtext("a:entry/a:source/a:id", namespaces=NS) == feed_id(
        "publisher", "mashhad", "ru"
    )
    assert network.findtext("a:entry/a:source/a:title", namespaces=NS) == "شهرداری مشهد"
    assert tree(render(make_feed("publisher", "ru"), "atom")).find("a:entry/a:source", NS) is None


# ---- versions, order, tombstones, archives ------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_entry_id_is_stable_across_versions_and_updated_moves(fmt: Format) -> None:
    v1 = make_entry("fa", version=1)
    v2 = make_entry("fa", version=2, headline="شهردار مشهد از متروپلیس بازدید کرد (اصلاح شد)")
    if fmt == "json":
        a, b = (
            json_feed(render(make_feed("publisher", "fa", v), "json"))["items"][0] for v in (v1, v2)
        )
        assert a["id"] == b["id"]
        assert b["date_modified"] > a["date_modified"]
        return
    a, b = (parsed(render(make_feed("publisher", "fa", v), fmt)).entries[0] for v in (v1, v2))
    assert a.id == b.id == entry_id("mashhad-1314415", "fa")
    assert b.title != a.title
    if fmt == "atom":
        assert b.updated_parsed > a.updated_parsed


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_keep_the_given_order(fmt: Format) -> None:
    ids = ["c", "a", "b"]
    entries = [make_entry("en", article_id=i) for i in ids]
    raw = render(make_feed("publisher", "en", *entries), fmt)
    got = (
        [i["id"] for i in json_feed(raw)["items"]]
        if fmt == "json"
        else [e.id for e in parsed(raw).entries]
    )
    assert got == [entry_id(i, "en") for i in ids]


def test_tombstones_are_in_atom_only() -> None:
    gone = Tombstone(
        "mashhad-1314400",
        "fa",
        PUBLISHED,
        link=permalink("fa", "mashhad-1314400"),
        comment="حذف شد",
    )
    feed = make_feed("publisher", "fa", tombstones=(gone,))
    raw = render(feed, "atom")
    result = parsed(raw)
    assert result.feed.link == f"{SITE}/feeds"  # the tombstone's link is not taken for the feed's
    [deleted] = tree(raw).findall("at:deleted-entry", NS)
    assert deleted.get("ref") == entry_id("mashhad-1314400", "fa")
    assert deleted.get("when") == "2025-04-29T03:51:53+00:00"
    assert deleted.find("a:link", NS).get("href") == permalink("fa", "mashhad-1314400")
    assert deleted.findtext("at:comment", namespaces=NS) == "حذف شد"
    for fmt in ("rss", "json"):
        other = render(feed, fmt)  # type: ignore[arg-type]
        assert entry_id("mashhad-1314400", "fa").encode() not in other
        assert b"mashhad-1314400" not in other


def test_a_bare_tombstone_has_only_ref_and_when() -> None:
    raw = render(make_feed(tombstones=(Tombstone("x", "en", PUBLISHED),)), "atom")
    [deleted] = tree(raw).findall("at:deleted-entry", NS)
    assert set(deleted.attrib) == {"ref", "when"} and len(deleted) == 0


def test_archive_documents_carry_fh_archive_and_paging_links() -> None:
    feed = archive_feed()
    base = f"{SITE}/feeds/khorasan/fa"
    for fmt, mime in (("atom", "application/atom+xml"), ("rss", "application/rss+xml")):
        root = tree(render(feed, fmt))  # type: ignore[arg-type]
        assert len(root.findall(".//fh:archive", NS)) == 1
        path = "a:link" if fmt == "atom" else "channel/a:link"
        links = {ln.get("rel"): (ln.get("href"), ln.get("type")) for ln in root.findall(path, NS)}
        assert links == {
            "self": (f"{base}/archive/3.{fmt}", mime),
            "current": (f"{base}.{fmt}", mime),
            "prev-archive": (f"{base}/archive/2.{fmt}", mime),
            "next-archive": (f"{base}/archive/4.{fmt}", mime),
        }
        if fmt == "rss":  # no html page: the channel links itself, not the last link given
            assert root.findtext("channel/link") == f"{base}/archive/3.rss"
    doc = json_feed(render(feed, "json"))
    assert doc["next_url"] == f"{base}/archive/2.json"
    ext = doc["_city_syndication"]
    assert ext["archive"] is True
    assert ext["current"] == f"{base}.json"
    assert ext["prev_archive"] == f"{base}/archive/2.json"
    assert ext["next_archive"] == f"{base}/archive/4.json"


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_live_feeds_are_not_archives(fmt: Format) -> None:
    raw = render(make_feed(), fmt)
    assert tree(raw).find(".//fh:archive", NS) is None
    assert b"prev-archive" not in raw


# ---- provenance, media ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_translations_carry_their_provenance(fmt: Format) -> None:
    root = tree(render(make_feed("partner", "ru", make_entry("ru"), make_entry("fa")), fmt))
    translated, source = root.findall(".//a:entry" if fmt == "atom" else ".//item", NS)
    [provenance] = translated.findall("cs:provenance", NS)
    assert dict(provenance.attrib) == {
        "engine": "ctranslate2",
        "glossary-version": "7",
        "method": "machine",
        "model": "m2m100_418M",
        "model-version": "2024-01-15",
        "needs-review": "true",
        "reviewed": "false",
        "translated-at": "2025-04-29T04:10:00+00:00",
    }  # pivot was None: left out
    assert [t.text for t in provenance.findall("cs:missing-term", NS)] == ["متروپلیس"]
    assert source.find("cs:provenance", NS) is None


def test_json_items_carry_provenance_alternates_and_publisher() -> None:
    doc = json_feed(render(make_feed("network", "ar", make_entry("ar"), make_entry("fa")), "json"))
    translated, source = doc["items"]
    ext = translated["_city_syndication"]
    assert ext["provenance"]["translated_at"] == "2025-04-29T04:10:00+00:00"
    assert ext["provenance"]["reviewed"] is False
    assert ext["provenance"]["missing_terms"] == ["متروپلیس"]
    assert "pivot" not in ext["provenance"]
    assert ext["publisher"] == {"id": "mashhad", "name": "شهرداری مشهد"}
    assert [a["language"] for a in ext["alternates"]] == ["fa", "en", "ru"]
    assert "provenance" not in source["_city_syndication"]


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_images_are_media_rss(fmt: Format) -> None:
    raw = render(make_feed("publisher", "fa"), fmt)
    [content] = tree(raw).findall(".//media:content", NS)
    assert dict(content.attrib) == {
        "url": "https://news.mashhad.ir/1.jpg",
        "medium": "image",
        "type": "image/jpeg",
        "width": "800",
        "height": "600",
    }
    assert content.findtext("media:description", namespaces=NS) == "شهردار در متروپلیس"
    assert parsed(raw).entries[0].media_content[0]["url"] == "https://news.mashhad.ir/1.jpg"


def test_json_images() -> None:
    images = (Image("https://x.example/1.jpg", "یک", "image/jpeg"), Image("https://x.example/2"))
    doc = json_feed(render(make_feed("publisher", "fa", make_entry(images=images)), "json"))
    item = doc["items"][0]
    assert item["image"] == "https://x.example/1.jpg"
    assert item["attachments"] == [
        {"url": "https://x.example/1.jpg", "mime_type": "image/jpeg", "title": "یک"}
    ]  # the second has no MIME type, which attachments require


# ---- RSS -----------------------------------------------------------------------------------


def test_rss_channel_and_items() -> None:
    feed = make_feed("publisher", "fa", make_entry("fa", byline="خبرنگار"))
    raw = render(feed, "rss")
    channel = tree(raw).find("channel")
    assert channel.findtext("link") == f"{SITE}/feeds"
    assert channel.findtext("description") == "City news"
    assert channel.findtext("language") == "fa"
    assert channel.find("dc:language", NS) is None  # "should not include both" (issue 21)
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == feed.updated
    links = {ln.get("rel"): ln.get("href") for ln in channel.findall("a:link", NS)}
    assert links == {"self": f"{SITE}/publishers/khorasan/fa.rss", "hub": f"{SITE}/websub"}
    [item] = channel.findall("item")
    guid = item.find("guid")
    assert (guid.text, guid.get("isPermaLink")) == (entry_id("mashhad-1314415", "fa"), "false")
    assert item.findtext("link") == permalink("fa")
    assert item.findtext("dc:language", namespaces=NS) == "fa"
    assert item.findtext("dc:creator", namespaces=NS) == "خبرنگار"
    assert [c.text for c in item.findall("category")] == ["city diplomacy", "مترو"]
    assert item.findtext("pubDate") == "Tue, 29 Apr 2025 03:51:53 +0000"  # RFC 822
    hreflangs = [ln.get("hreflang") for ln in item.findall("a:link[@rel='alternate']", NS)]
    assert hreflangs == ["ar", "en", "ru"]  # its own page is <link>
    result = parsed(raw)
    assert result.feed.language == "fa"
    assert result.entries[0].published_parsed[:6] == (2025, 4, 29, 3, 51, 53)


def test_rss_channel_link_falls_back_to_self() -> None:
    feed = make_feed(links=FeedLinks(self_base=f"{SITE}/feeds/khorasan/fa"))
    channel = tree(render(feed, "rss")).find("channel")
    assert channel.findtext("link") == f"{SITE}/feeds/khorasan/fa.rss"
    assert [ln.get("rel") for ln in channel.findall("a:link", NS)] == ["self"]
    assert "hubs" not in json_feed(render(feed, "json"))


# ---- JSON Feed -----------------------------------------------------------------------------


def test_json_feed_fields() -> None:
    doc = json_feed(render(make_feed("publisher", "fa", make_entry("fa", byline=None)), "json"))
    assert doc["home_page_url"] == f"{SITE}/feeds"
    assert doc["description"] == "City news"
    assert doc["authors"] == [{"name": "شهرداری مشهد"}]
    assert doc["hubs"] == [{"type": "WebSub", "url": f"{SITE}/websub"}]
    assert "next_url" not in doc
    assert doc["_city_syndication"]["archive"] is False
    item = doc["items"][0]
    assert item["url"] == permalink("fa")
    assert item["external_url"] == "https://news.mashhad.ir/1314415"
    assert item["date_published"] == "2025-04-29T03:51:53+00:00"
    assert item["date_modified"] == "2025-04-29T04:01:53+00:00"
    assert item["tags"] == ["city diplomacy", "مترو"]
    assert item["authors"] == [{"name": "شهرداری مشهد"}]


def test_json_is_utf8_not_escaped() -> None:
    assert HEADLINES["fa"].encode("utf-8") in render(make_feed(), "json")


# ---- robustness ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_deterministic(fmt: Format) -> None:
    feeds = [
        archive_feed("fa"),
        make_feed("network", "ar", tombstones=(Tombstone("x", "ar", PUBLISHED),)),
    ]
    for feed in feeds:
        rebuilt = dataclasses.replace(
            feed, entries=tuple(dataclasses.replace(e) for e in feed.entries)
        )
        provenance_reordered = dataclasses.replace(
            feed,
            entries=tuple(
                dataclasses.replace(e, provenance=dict(reversed(list(e.provenance.items()))))
                if e.provenance
                else e
                for e in feed.entries
            ),
        )
        assert render(feed, fmt) == render(rebuilt, fmt) == render(provenance_reordered, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_are_stripped(fmt: Format) -> None:
    dirty = "\x00\x01\x08\x0b\x0c\x0e\x1f\ufffe"
    entry = make_entry(
        "fa",
        headline=f"شهردار{dirty} مشهد",
        body_html=f"<p>متن{dirty}</p>",
        byline=f"خبرنگار{dirty}",
        subjects=(f"مترو{dirty}",),
        images=(Image("https://x.example/1.jpg", f"عکس{dirty}"),),
        provenance={"method": "machine", "engine": f"ct2{dirty}", "missing_terms": [f"م{dirty}"]},
    )
    gone = Tombstone("gone", "fa", PUBLISHED, comment=f"حذف{dirty}")
    feed = make_feed("publisher", "fa", entry, title=f"خراسان{dirty}", tombstones=(gone,))
    raw = render(feed, fmt)
    if fmt == "json":
        doc = json_feed(raw)
        assert doc["title"] == "خراسان"
        assert doc["items"][0]["title"] == "شهردار مشهد"
        assert not any(c in raw.decode() for c in dirty)
        return
    tree(raw)  # strict XML
    item = parsed(raw).entries[0]
    assert item.title == "شهردار مشهد"
    assert b"ct2" in raw and b"\xef\xbf\xbe" not in raw  # U+FFFE gone too


@pytest.mark.parametrize("fmt", FORMATS)
def test_naive_datetimes_are_taken_as_utc(fmt: Format) -> None:
    naive = PUBLISHED.replace(tzinfo=None)
    feed = make_feed(
        "publisher", "en", make_entry("en", published=naive, updated=naive), updated=naive
    )
    assert render(feed, fmt) == render(
        make_feed(
            "publisher",
            "en",
            make_entry("en", published=PUBLISHED, updated=PUBLISHED),
            updated=PUBLISHED,
        ),
        fmt,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_feed_is_still_valid(fmt: Format) -> None:
    feed = dataclasses.replace(make_feed(), entries=())
    if fmt == "json":
        assert json_feed(render(feed, fmt))["items"] == []
    else:
        assert parsed(render(feed, fmt)).entries == []


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        render(make_feed(), "xml")  # type: ignore[arg-type]


# ---- OPML and the directory page -----------------------------------------------------------

LISTINGS = [
    Listing("network", "khorasan", "شبکه خراسان", "fa", f"{SITE}/networks/khorasan/fa"),
    Listing("publisher", "mashhad", "شهرداری مشهد", "fa", f"{SITE}/feeds/mashhad/fa", SITE),
    Listing("publisher", "mashhad", "بلدية مشهد", "ar", f"{SITE}/feeds/mashhad/ar", SITE),
    Listing("publisher", "mashhad", "Mashhad <Municipality>", "en", f"{SITE}/feeds/mashhad/en"),
    Listing("partner", "metropolis", "Метрополис", "ru", f"{SITE}/partners/metropolis/ru"),
]


def test_opml_lists_every_feed() -> None:
    raw = render_opml("City news feeds", LISTINGS)
    root = tree(raw)
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "City news feeds"
    outlines = root.findall("body/outline")
    assert {o.get("xmlUrl") for o in outlines} == {f"{x.base}.atom" for x in LISTINGS}
    assert all(o.get("type") == "rss" for o in outlines)
    by_url = {o.get("xmlUrl"): o for o in outlines}
    first = by_url[f"{SITE}/feeds/mashhad/fa.atom"]
    assert (first.get("text"), first.get("title")) == ("شهرداری مشهد", "شهرداری مشهد")
    assert (first.get("language"), first.get("htmlUrl")) == ("fa", SITE)
    assert by_url[f"{SITE}/networks/khorasan/fa.atom"].get("htmlUrl") is None
    assert [(o.get("category"), o.get("language")) for o in outlines] == [  # a stable order
        ("/publisher/mashhad", "ar"),
        ("/publisher/mashhad", "en"),
        ("/publisher/mashhad", "fa"),
        ("/network/khorasan", "fa"),
        ("/partner/metropolis", "ru"),
    ]
    assert render_opml("City news feeds", LISTINGS[::-1]) == raw
    rss = tree(render_opml("x", LISTINGS, fmt="rss")).findall("body/outline")
    assert {o.get("xmlUrl") for o in rss} == {f"{x.base}.rss" for x in LISTINGS}


class _Page(HTMLParser):
    """Collects links and the lang/dir of elements, and checks tags are closed in order."""

    VOID: ClassVar[set[str]] = {"meta", "link", "br", "img", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.hrefs: list[str] = []
        self.attrs_of: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs_of.append((tag, dict(attrs)))
        if href := dict(attrs).get("href"):
            self.hrefs.append(href)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_directory_links_every_feed_and_the_opml() -> None:
    opml = f"{SITE}/feeds.opml"
    page = render_directory("City news feeds", LISTINGS, opml)
    assert page.startswith("<!DOCTYPE html>")
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    for listing in LISTINGS:
        for fmt in FORMATS:
            assert f"{listing.base}.{fmt}" in parser.hrefs
    assert opml in parser.hrefs
    spans = {a.get("lang"): a.get("dir") for tag, a in parser.attrs_of if tag == "span"}
    assert spans == {"fa": "rtl", "ar": "rtl", "en": None, "ru": None}
    assert "Mashhad <Municipality>" in "".join(parser.text)  # escaped in the page, intact as text
    assert "<Municipality>" not in page
    assert not any(tag == "script" or "src" in a for tag, a in parser.attrs_of)
    assert [t for t in parser.text if t in ("Publishers", "Networks", "Partners")] == [
        "Publishers",
        "Networks",
        "Partners",
    ]


def test_an_empty_directory_still_links_the_opml() -> None:
    page = render_directory("Feeds", [], "https://x.example/feeds.opml")
    assert 'href="https://x.example/feeds.opml"' in page and "No feeds yet." in page
    assert tree(render_opml("Feeds", [])).findall("body/outline") == []


# ---- only http(s) links, and headlines that never become markup (issue 18: 8, 11c) -----------

HOSTILE_URLS = ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "//evil.example")


def test_a_javascript_site_is_never_a_link_in_the_directory_or_the_opml() -> None:
    listings = [
        Listing("publisher", "evil", "Evil", "en", f"{SITE}/feeds/evil/en", url)
        for url in HOSTILE_URLS
    ]
    page = render_directory("Feeds", listings, f"{SITE}/feeds.opml")
    parser = _Page()
    parser.feed(page)
    ours = (f"{SITE}/", "/assets/", "#main", "/language/")  # the switch of the interface
    assert parser.hrefs and all(h.startswith(ours) for h in parser.hrefs), parser.hrefs
    assert "Web page" not in page
    outlines = tree(render_opml("Feeds", listings)).findall("body/outline")
    assert len(outlines) == len(listings) and all(o.get("htmlUrl") is None for o in outlines)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_feed_carries_no_link_that_is_not_http(url: str) -> None:
    """Entry links, the original's URL, other languages, images and tombstones: whatever reached
    the stored entry (anything that can write to Kafka or the database) is dropped at render."""
    entry = make_entry(
        "en",
        link=url,
        source_url=url,
        alternates=(Alternate("fa", url),),
        images=(Image(url, caption="c", type="image/png"),),
    )
    feed = make_feed(
        "publisher",
        "en",
        entry,
        tombstones=(Tombstone("mashhad-2", "en", PUBLISHED, link=url),),
    )
    for fmt in FORMATS:
        raw = render(feed, fmt)
        assert url.strip().encode() not in raw, (fmt, raw)
        if fmt != "json":
            tree(raw)  # still well-formed


MARKUP_HEADLINES = ("<script>alert(1)</script>", "<b>x</b>", "AT&T <i>now</i> & then")


@pytest.mark.parametrize("headline", MARKUP_HEADLINES)
def test_a_headline_with_angle_brackets_is_text_in_every_format(headline: str) -> None:
    """Readers that decode an RSS title as HTML (feedparser among them) must show the headline
    as written, not render it: it is sent so that decoding it twice still gives text."""
    feed = make_feed("publisher", "en", make_entry("en", headline=headline))
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(render(feed, fmt))
        title = parsed.entries[0].title_detail
        if title.type == "text/html":
            assert "<" not in title.value, (fmt, title.value)  # no tag in what is HTML
            assert html.unescape(title.value) == headline, fmt
        else:
            assert title.type == "text/plain" and title.value == headline, fmt
    item = json_feed(render(feed, "json"))["items"][0]
    assert item["title"] == headline  # JSON Feed's title is plain text by definition
    assert headline not in item["content_html"]
