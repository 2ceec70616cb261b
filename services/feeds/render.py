"""Render feeds as Atom 1.0, RSS 2.0 and JSON Feed 1.1 (pure: data in, bytes out).

feedgen 1.0 builds the Atom and RSS documents. What it gets wrong or lacks is written by one pair
of feedgen extensions (``_FeedExtension``, ``_EntryExtension``) on the lxml tree while feedgen
builds it, so nothing is parsed twice:

- entry links lose rel/type/hreflang (upstream #135): entry links never go through feedgen;
- RSS drops every feed link but ``self``: hub and RFC 5005 links are added as ``atom:link``;
- language is feed-level only: ``xml:lang`` on each Atom entry, ``dc:language`` on each RSS item
  (the channel has RSS's own ``<language>`` only: "a channel should not include both");
- naive datetimes raise: every datetime is made aware UTC first (a naive one is taken as UTC);
- ``add_entry()`` prepends: entries are added with ``order="append"``;
- nothing for media captions, provenance, RFC 6721 tombstones or RFC 5005 ``fh:archive``;
- no ``atom:source`` for an aggregated entry: written whole (id, title, updated, self link);
- images are Media RSS in both XML formats, also Atom ``enclosure`` links, and JSON Feed
  ``attachments``, so a reader that knows only its own format's way still finds them.

Content is ``type="html"`` (escaped), never feedgen's invalid ``type="CDATA"``; so is an Atom
title that looks like markup (RSS: :func:`rss_text`). Text direction is marked inside the HTML
(``<div dir="rtl">``); a ``dir`` attribute on Atom elements is invalid.
Output depends only on the input (no clock, no library version), so stored bytes and their ETags
stay stable; characters XML cannot carry are stripped from every string first.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from lxml import etree  # type: ignore[import-untyped]

from shared.display import http_url
from shared.languages import is_rtl

Format = Literal["atom", "rss", "json"]
FORMATS: tuple[Format, ...] = ("atom", "rss", "json")
MEDIA_TYPES: dict[str, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
# The languages' own names, for services/feeds/directory.py until it asks shared.languages.
# Namespace for entry and feed ids: ids depend only on the article and language, so they never
# change across versions, hosts or deployments.
ID_NAMESPACE = uuid.UUID("6f1c3f4e-0c8e-4a8e-9a55-5d7a4cf0b1d2")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
GENERATOR = "city-syndication"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

ATOM_NS = "http://www.w3.org/2005/Atom"
# Our own vocabulary: <cs:provenance> in Atom and RSS, "_city_syndication" in JSON Feed.
CS_NS = "https://city-syndication.org/ns/provenance/1.0"
_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
    "cs": CS_NS,
    "at": "http://purl.org/atompub/tombstones/1.0",  # RFC 6721
    "fh": "http://purl.org/syndication/history/1.0",  # RFC 5005
}
# Declared on the root element of each format: only what that format uses.
NAMESPACES = {
    "atom": {p: _NS[p] for p in ("media", "cs", "at", "fh")},
    "rss": {p: _NS[p] for p in ("dc", "media", "cs", "fh")},
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Code points XML 1.0 forbids: C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
T = TypeVar("T")


@dataclass(frozen=True)
class Image:
    url: str
    caption: str | None = None
    type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Alternate:
    """The same article in another language."""

    language: str
    url: str  # permalink of that translation (an HTML page)


@dataclass(frozen=True)
class Entry:
    """One article in one language, as it stands now (its latest version)."""

    article_id: str
    language: str
    version: int
    headline: str
    body_html: str  # an already sanitised HTML fragment
    published: datetime
    updated: datetime  # moves on a correction
    publisher: str = ""
    publisher_name: str = ""
    link: str | None = None  # permalink of this entry (HTML page)
    source_url: str | None = None  # the publisher's original page
    byline: str | None = None
    subjects: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    alternates: tuple[Alternate, ...] = ()
    provenance: Mapping[str, Any] | None = None  # None for source-language entries
    source_feed: str | None = None  # the publisher's feed of this language, URL base as FeedLinks


@dataclass(frozen=True)
class Tombstone:
    """A withdrawn article (RFC 6721)."""

    article_id: str
    language: str
    when: datetime
    link: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class FeedLinks:
    """URL bases without the format extension: url = f"{base}.{ext}" where ext is atom|rss|json."""

    self_base: str
    hub: str | None = None  # WebSub hub URL (no extension)
    html: str | None = None  # a human page for the feed (no extension added)
    current_base: str | None = None  # RFC 5005 rel="current" (set on archive documents)
    prev_archive_base: str | None = None  # RFC 5005 rel="prev-archive"
    next_archive_base: str | None = None  # RFC 5005 rel="next-archive"

    def url(self, base: str, fmt: Format) -> str:
        return f"{base}.{fmt}"

    def archives(self, fmt: Format) -> list[tuple[str, str]]:
        """(rel, url) of the RFC 5005 links that are set, in the given format."""
        rels = ("current", "prev-archive", "next-archive")
        bases = (self.current_base, self.prev_archive_base, self.next_archive_base)
        return [(rel, self.url(b, fmt)) for rel, b in zip(rels, bases, strict=True) if b]


@dataclass(frozen=True)
class Feed:
    """One feed document, its entries already chosen and ordered: rendering decides nothing."""

    kind: Literal["publisher", "network", "partner"]
    key: str  # publisher / network / partner id
    language: str
    title: str
    author: str  # feed-level author name
    links: FeedLinks
    updated: datetime
    subtitle: str | None = None
    entries: tuple[Entry, ...] = ()  # display order, newest first
    tombstones: tuple[Tombstone, ...] = ()
    archive: bool = False  # an RFC 5005 archive document


def entry_id(article_id: str, language: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'article/{article_id}/{language}')}"


def feed_id(kind: str, key: str, language: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'feed/{kind}/{key}/{language}')}"


def content_html(entry: Entry) -> str:
    """The body inside a div that carries its direction and language for HTML renderers."""
    direction = "rtl" if is_rtl(entry.language) else "ltr"
    lang = html.escape(entry.language)
    return f'<div dir="{direction}" lang="{lang}">{entry.body_html}</div>'


def rss_text(text: str) -> str:
    """A title for RSS. RSS 2.0 never says whether a title is text or HTML, and many readers
    (feedparser among them) decode it as HTML when it looks like some: a title holding ``<`` or
    ``>`` is sent HTML-escaped, so a reader that decodes it twice still shows the text as the
    editor wrote it, never a tag (Atom: :func:`_title`; JSON Feed carries the text as is).
    The escapes are hexadecimal character references, as the RSS Best Practices Profile asks
    (``&#x3C;``, ``&#x26;``), in a CDATA section (:func:`_rss_character_data`)."""
    if not has_markup(text):
        return text
    return "".join(_RSS_ESCAPES.get(c, c) for c in text)


def has_markup(text: str) -> bool:
    return "<" in text or ">" in text


def _title(text: str, fmt: Format) -> str:
    """A title in ``fmt``: in Atom, one that looks like markup is sent as ``type="html"``
    (escaped; :func:`_html_title` sets the type), which a validator and every reader take for
    text; any other is Atom's plain ``type="text"``."""
    if fmt == "rss":
        return rss_text(text)
    return html.escape(text, quote=False) if has_markup(text) else text


def _html_title(el: Any, text: str) -> None:
    if has_markup(text):
        el.find("title").set("type", "html")


_RSS_ESCAPES = {"&": "&#x26;", "<": "&#x3C;", ">": "&#x3E;"}


def _rss_character_data(el: Any) -> None:
    """A title :func:`rss_text` escaped is written as a CDATA section, so that the escapes
    reach the reader as written (``&#x3C;``, not ``&amp;#x3C;``): the same text for an XML
    parser, and what the profile (and the W3C validator) take for text, not markup."""
    if el is not None and el.text and "&#x" in el.text:
        el.text = etree.CDATA(el.text)


def rfc3339(when: datetime) -> str:
    return _utc(when).isoformat()


def scrub(value: T) -> T:
    """Strip XML-invalid characters from every string and make every datetime aware UTC, through
    dataclasses, tuples, lists and mappings: lxml refuses the one and feedgen the other."""
    return cast(T, _scrub(value))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _NOT_XML.sub("", value)
    if isinstance(value, datetime):
        return _utc(value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _scrub(getattr(value, f.name)) for f in fields(value)})
    if isinstance(value, tuple | list | set | frozenset):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, Mapping):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def linkable(feed: Feed) -> Feed:
    """The feed with every link that is not http(s) left out (an entry's page, its original,
    its other languages, images, tombstones, the hub and the feed's page): whatever reached the
    stored entries, a reader is never handed a ``javascript:`` or ``data:`` link."""
    entries = tuple(
        replace(
            e,
            link=http_url(e.link),
            source_url=http_url(e.source_url),
            alternates=tuple(a for a in e.alternates if http_url(a.url)),
            images=tuple(i for i in e.images if http_url(i.url)),
            source_feed=http_url(e.source_feed),
        )
        for e in feed.entries
    )
    tombstones = tuple(replace(t, link=http_url(t.link)) for t in feed.tombstones)
    links = replace(feed.links, hub=http_url(feed.links.hub), html=http_url(feed.links.html))
    return replace(feed, entries=entries, tombstones=tombstones, links=links)


def render(feed: Feed, fmt: Format) -> bytes:
    feed = linkable(scrub(feed))
    if fmt == "json":
        return _render_json(feed)
    if fmt not in ("atom", "rss"):
        raise ValueError(f"unknown feed format {fmt!r}")
    fg = FeedGenerator()
    fg.register_extension("cs", _FeedExtension, _EntryExtension)
    fg.cs.feed, fg.cs.fmt = feed, fmt
    fg.id(feed_id(feed.kind, feed.key, feed.language))
    fg.title(_title(feed.title, fmt))
    fg.author({"name": feed.author})
    fg.language(feed.language)
    fg.link(_feed_links(feed, fmt))
    if feed.subtitle or fmt == "rss":  # RSS requires a description
        fg.description(feed.subtitle or feed.title)
    fg.generator(GENERATOR)  # without feedgen's version, which would change the bytes
    fg.updated(feed.updated)  # also RSS lastBuildDate, which would otherwise be "now"
    for e in feed.entries:
        fe = fg.add_entry(order="append")
        fe.cs.entry, fe.cs.feed = e, feed
        fe.id(entry_id(e.article_id, e.language))  # also the RSS guid, isPermaLink="false"
        title = e.headline or e.article_id
        fe.title(_title(title, fmt))
        fe.content(content_html(e), type="html")
        fe.published(e.published)
        fe.updated(e.updated)
        fe.author({"name": e.byline or feed.author})
        for subject in filter(None, e.subjects):
            fe.category(term=subject)
    out: bytes = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    return out


def _feed_links(feed: Feed, fmt: Format) -> list[dict[str, str]]:
    links, media_type = feed.links, MEDIA_TYPES[fmt].split(";")[0]
    out = [{"href": links.url(links.self_base, fmt), "rel": "self", "type": media_type}]
    if links.hub:
        out.append({"href": links.hub, "rel": "hub"})
    if links.html:
        out.append({"href": links.html, "rel": "alternate", "type": "text/html"})
    out += [{"href": url, "rel": rel, "type": media_type} for rel, url in links.archives(fmt)]
    return out


def _alternates(entry: Entry) -> list[Alternate]:
    """The entry's other languages: at most one link per hreflang (all are text/html), none in
    the entry's own language, which its own link covers."""
    seen, out = {entry.language.lower()}, []
    for alt in entry.alternates:
        if alt.url and alt.language and alt.language.lower() not in seen:
            seen.add(alt.language.lower())
            out.append(alt)
    return out


def _entry_links(entry: Entry, own: bool = True) -> list[dict[str, str]]:
    """The entry's own page first (most readers take the first alternate for its link), then
    its other languages and the publisher's original."""
    mine = [Alternate(entry.language, entry.link)] if entry.link and own else []
    out = [
        {"href": alt.url, "rel": "alternate", "type": "text/html", "hreflang": alt.language}
        for alt in mine + _alternates(entry)
    ]
    if entry.source_url:
        out.append({"href": entry.source_url, "rel": "via"})
    return out


def _sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, tag, attrs)
    el.text = text
    return el


def _ns(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _media(parent: Any, images: tuple[Image, ...]) -> None:
    """Media RSS: one media:content per image, its caption as media:description."""
    for image in images:
        content = _sub(parent, _ns("media", "content"), url=image.url, medium="image")
        for attr in ("type", "width", "height"):
            if getattr(image, attr) is not None:
                content.set(attr, str(getattr(image, attr)))
        if image.caption:
            _sub(content, _ns("media", "description"), image.caption, type="plain")


#: Image types by extension: a table of our own, not the host's mimetypes database, so the
#: same entry renders to the same bytes on every replica.
IMAGE_TYPES = {
    "avif": "image/avif",
    "gif": "image/gif",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "svg": "image/svg+xml",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "webp": "image/webp",
}


def image_type(image: Image) -> str | None:
    """The image's MIME type: the one given, else the one its URL's extension names."""
    if image.type:
        return image.type
    name = urlsplit(image.url).path.rsplit("/", 1)[-1]
    return IMAGE_TYPES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None


def _enclosures(parent: Any, images: tuple[Image, ...]) -> None:
    """Atom's own way (RFC 4287 4.2.7.2): an ``enclosure`` link per image, its caption as the
    link's title, for readers that know no Media RSS."""
    for image in images:
        link = _sub(parent, "link", rel="enclosure", href=image.url)
        kind = image_type(image)
        if kind:
            link.set("type", kind)
        if image.caption:
            link.set("title", image.caption)


def _source(parent: Any, entry: Entry) -> None:
    """Where an aggregated entry came from: a complete ``atom:source`` (RFC 4287 4.2.11), the
    publisher's feed in the entry's language. Its ``updated`` is the entry's own: that feed was
    updated when this version was published into it, and nothing later is known here."""
    source = _sub(parent, "source")
    _sub(source, "id", feed_id("publisher", entry.publisher, entry.language))
    _sub(source, "title", entry.publisher_name or entry.publisher)
    _sub(source, "updated", rfc3339(entry.updated))
    if entry.source_feed:
        href = f"{entry.source_feed}.atom"
        _sub(source, "link", rel="self", type=MEDIA_TYPES["atom"].split(";")[0], href=href)


def _provenance(parent: Any, provenance: Mapping[str, Any] | None) -> None:
    """``<cs:provenance>``: each scalar as an attribute (snake_case key in kebab-case, booleans
    "true"/"false", datetimes RFC 3339), each list as repeated child elements named by the key
    in the singular (missing_terms -> <cs:missing-term>). None values are left out. An item
    that is a record (a check failure) has its reason as text and its short fields as
    attributes: ``<cs:check-failure check="numbers" segment="2">reason</cs:check-failure>``."""
    if provenance is None:
        return
    el = _sub(parent, _ns("cs", "provenance"))
    for key, value in sorted(provenance.items()):
        name = key.replace("_", "-")
        if value is None or not _XML_NAME.match(name):
            continue
        if isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    _record(el, name.removesuffix("s"), item)
                else:
                    _sub(el, _ns("cs", name.removesuffix("s")), _xml_value(item))
        else:
            el.set(name, _xml_value(value))


#: Fields of a provenance record written as attributes; the rest (the segments' text, evidence)
#: is in the JSON Feed and the desk, not repeated in every XML entry.
_RECORD_ATTRIBUTES = ("check", "segment")


def _record(parent: Any, name: str, item: Mapping[str, Any]) -> None:
    attrs = {key: _xml_value(item[key]) for key in _RECORD_ATTRIBUTES if item.get(key) is not None}
    reason = item.get("reason")
    _sub(parent, _ns("cs", name), None if reason is None else str(reason), **attrs)


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


class _FeedExtension:
    """Feed-level parts feedgen lacks. feedgen calls these while it builds the tree."""

    feed: Feed
    fmt: Format

    def extend_ns(self) -> dict[str, str]:
        return NAMESPACES[self.fmt]

    def extend_atom(self, root: Any) -> Any:
        _html_title(root, self.feed.title)
        if self.feed.archive:
            _sub(root, _ns("fh", "archive"))
        for t in self.feed.tombstones:
            ref = entry_id(t.article_id, t.language)
            gone = _sub(root, _ns("at", "deleted-entry"), ref=ref, when=rfc3339(t.when))
            # "related", not the default "alternate": parsers unaware of RFC 6721 (feedparser)
            # would take a withdrawn article's page for the feed's own.
            if t.link:
                _sub(gone, "link", href=t.link, rel="related", type="text/html")
            if t.comment:
                _sub(gone, _ns("at", "comment"), t.comment)
        return root

    def extend_rss(self, root: Any) -> Any:
        feed, channel = self.feed, root.find("channel")
        # feedgen takes the channel link from whichever feed link came last.
        channel.find("link").text = feed.links.html or feed.links.url(feed.links.self_base, "rss")
        _rss_character_data(channel.find("title"))
        for link in _feed_links(feed, "rss"):
            if link["rel"] not in ("self", "alternate"):  # feedgen writes only self
                _sub(channel, f"{{{ATOM_NS}}}link", **link)
        if feed.archive:
            _sub(channel, _ns("fh", "archive"))
        return root


class _EntryExtension:
    """Entry-level parts feedgen gets wrong (links, language) or lacks."""

    entry: Entry
    feed: Feed

    def extend_atom(self, el: Any) -> Any:
        e = self.entry
        _html_title(el, e.headline or e.article_id)
        el.set(XML_LANG, e.language)
        for link in _entry_links(e):
            _sub(el, "link", **link)
        if e.publisher and self.feed.kind != "publisher":
            _source(el, e)
        _enclosures(el, e.images)
        _media(el, e.images)
        _provenance(el, e.provenance)
        return el

    def extend_rss(self, el: Any) -> Any:
        e = self.entry
        _rss_character_data(el.find("title"))
        if e.publisher and e.source_feed and self.feed.kind != "publisher":
            _sub(el, "source", e.publisher_name or e.publisher, url=f"{e.source_feed}.rss")
        # Other languages and the source first, then the item's own <link>: feedparser takes
        # the last alternate link it sees for an item's link.
        for link in _entry_links(e, own=False):
            _sub(el, f"{{{ATOM_NS}}}link", **link)
        if e.link:
            _sub(el, "link", e.link)
        _sub(el, _ns("dc", "language"), e.language)
        _sub(el, _ns("dc", "creator"), e.byline or self.feed.author)  # <author> needs an email
        _media(el, e.images)
        _provenance(el, e.provenance)
        return el


def _render_json(feed: Feed) -> bytes:
    links = feed.links
    older = links.prev_archive_base  # JSON Feed's next_url pages towards older items only
    doc = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": links.html,
        "feed_url": links.url(links.self_base, "json"),
        "description": feed.subtitle,
        "next_url": links.url(older, "json") if older else None,
        "language": feed.language,
        "authors": [{"name": feed.author}],
        "hubs": [{"type": "WebSub", "url": links.hub}] if links.hub else None,
        "_city_syndication": {
            "about": CS_NS,
            "id": feed_id(feed.kind, feed.key, feed.language),
            "kind": feed.kind,
            "key": feed.key,
            "updated": rfc3339(feed.updated),
            "archive": feed.archive,
            **{rel.replace("-", "_"): url for rel, url in links.archives("json")},
        },
        "items": [_json_item(e, feed) for e in feed.entries],
    }
    # Compact: only without indent does json use its much faster C encoder.
    out = json.dumps(_present(doc), ensure_ascii=False, separators=(",", ":"), default=_json_value)
    return out.encode("utf-8")


def _json_item(e: Entry, feed: Feed) -> dict[str, Any]:
    publisher = {"id": e.publisher, "name": e.publisher_name or e.publisher}
    ext = {
        "about": CS_NS,
        "publisher": publisher if e.publisher else None,
        "alternates": [{"language": a.language, "url": a.url} for a in _alternates(e)] or None,
        "provenance": _present(dict(sorted(e.provenance.items()))) if e.provenance else None,
    }
    attachments = [  # only images with the MIME type attachments require
        _present({"url": i.url, "mime_type": image_type(i), "title": i.caption})
        for i in e.images
        if image_type(i)
    ]
    return _present(
        {
            "id": entry_id(e.article_id, e.language),
            "url": e.link,
            "external_url": e.source_url,
            "title": e.headline,
            "content_html": content_html(e),
            "date_published": rfc3339(e.published),
            "date_modified": rfc3339(e.updated),
            "tags": [s for s in e.subjects if s] or None,
            "language": e.language,
            "authors": [{"name": e.byline or feed.author}],
            "image": e.images[0].url if e.images else None,
            "attachments": attachments or None,
            "_city_syndication": _present(ext),
        }
    )


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON Feed leaves absent fields out rather than null."""
    return {key: value for key, value in fields.items() if value is not None}


def _json_value(value: Any) -> str:
    """Datetimes, the one type in provenance that json cannot write itself."""
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
