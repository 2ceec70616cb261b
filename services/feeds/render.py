"""Render feeds from stored entries (pure: entries in, bytes out).

feedgen builds the documents; what it gets wrong is handled here: it raises on naive datetimes
(we only pass aware UTC ones), prepends entries unless told to append, and has no notion of
right-to-left text, which belongs in the HTML content (``dir="rtl"``), never on Atom elements.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from feedgen.feed import FeedGenerator

Format = Literal["atom", "rss"]
MEDIA_TYPES: dict[str, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}
RTL_LANGUAGES = {"fa", "ar", "he", "ur", "ps", "ckb", "yi", "dv"}
LANGUAGE_NAMES = {"fa": "فارسی", "en": "English", "ar": "العربية", "ru": "Русский"}
# Namespace for entry and feed ids: ids depend only on the article and language, so they never
# change across versions, hosts or deployments.
ID_NAMESPACE = uuid.UUID("6f1c3f4e-0c8e-4a8e-9a55-5d7a4cf0b1d2")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    article_id: str
    language: str
    version: int
    headline: str
    body_html: str
    published: datetime
    updated: datetime
    url: str | None = None
    byline: str | None = None
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedInfo:
    publisher: str
    publisher_name: str
    language: str
    self_url: str
    alternate_url: str | None = None
    entries: tuple[Entry, ...] = field(default_factory=tuple)


def entry_id(article_id: str, language: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'article/{article_id}/{language}')}"


def feed_id(publisher: str, language: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, f'feed/publisher/{publisher}/{language}')}"


def is_rtl(language: str) -> bool:
    return language.split("-")[0].lower() in RTL_LANGUAGES


def content_html(entry: Entry) -> str:
    direction = "rtl" if is_rtl(entry.language) else "ltr"
    return f'<div dir="{direction}" lang="{html.escape(entry.language)}">{entry.body_html}</div>'


def render(info: FeedInfo, fmt: Format) -> bytes:
    fg = FeedGenerator()
    lang_name = LANGUAGE_NAMES.get(info.language, info.language)
    fg.id(feed_id(info.publisher, info.language))
    fg.title(f"{info.publisher_name} ({lang_name})")
    fg.author({"name": info.publisher_name})
    fg.language(info.language)
    fg.link(href=info.self_url, rel="self", type=MEDIA_TYPES[fmt].split(";")[0])
    fg.link(href=info.alternate_url or info.self_url, rel="alternate")
    fg.description(f"News from {info.publisher_name} in {lang_name}")
    fg.generator("city-syndication")
    fg.updated(max((e.updated for e in info.entries), default=EPOCH))
    for e in info.entries:
        fe = fg.add_entry(order="append")
        ident = entry_id(e.article_id, e.language)
        fe.id(ident)
        fe.guid(ident, permalink=False)
        fe.title(e.headline)
        fe.content(content_html(e), type="html")
        fe.published(e.published)
        fe.updated(e.updated)
        fe.author({"name": e.byline or info.publisher_name})
        if e.url:
            fe.link(href=e.url, rel="alternate")
        for subject in e.subjects:
            fe.category(term=subject)
    out: bytes = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    return out
