"""Lists of feeds: OPML 2.0 for feed readers, and a small HTML directory page for people.

Pure, like the renderer: the same listings always give the same bytes, in one order (kind, key,
language) whatever order they come in.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from lxml import etree  # type: ignore[import-untyped]

from services.feeds.render import FORMATS, LANGUAGE_NAMES, MEDIA_TYPES, Format, is_rtl, scrub

KINDS = {"publisher": "Publishers", "network": "Networks", "partner": "Partners"}
FORMAT_NAMES = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
OPML_MEDIA_TYPE = "text/x-opml"
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;"
    "line-height:1.5}table{border-collapse:collapse;width:100%}th,td{text-align:start;"
    "padding:.4rem .6rem;border-bottom:1px solid #ccc}a{margin-inline-end:.6rem}"
)


@dataclass(frozen=True)
class Listing:
    """One feed in one language."""

    kind: str
    key: str
    name: str  # shown to people, in the feed's language
    language: str
    base: str  # feed URL without the format extension
    html: str | None = None  # a human page for the feed

    def url(self, fmt: Format) -> str:
        return f"{self.base}.{fmt}"


def _ordered(feeds: Sequence[Listing]) -> list[Listing]:
    rank = {kind: i for i, kind in enumerate(KINDS)}  # known kinds first, in this order

    def order(f: Listing) -> tuple[int, str, str, str]:
        return rank.get(f.kind, len(rank)), f.kind, f.key, f.language

    return sorted(scrub(tuple(feeds)), key=order)


def render_opml(title: str, feeds: Sequence[Listing], fmt: Format = "atom") -> bytes:
    """One outline per feed, pointing at its ``fmt`` document (Atom by default: it carries
    per-entry languages, translation links and tombstones). OPML calls every feed type="rss"."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = scrub(title)
    body = etree.SubElement(root, "body")
    for feed in _ordered(feeds):
        outline = etree.SubElement(body, "outline", type="rss", text=feed.name, title=feed.name)
        outline.set("xmlUrl", feed.url(fmt))
        if feed.html:
            outline.set("htmlUrl", feed.html)
        outline.set("language", feed.language)
        outline.set("category", f"/{feed.kind}/{feed.key}")
    out: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return out


def render_directory(title: str, feeds: Sequence[Listing], opml_url: str) -> str:
    """An HTML5 page listing every feed by kind, with a link to each format and to the OPML.
    No scripts and no external resources; each name carries its own lang (and dir for RTL)."""
    esc = html.escape
    title, opml_url = scrub(title), scrub(opml_url)
    parts = [
        '<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        f'<link rel="alternate" type="{OPML_MEDIA_TYPE}" href="{esc(opml_url)}" title="OPML">\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{esc(title)}</h1>\n"
        f'<p><a href="{esc(opml_url)}" type="{OPML_MEDIA_TYPE}">All feeds as OPML</a></p>\n'
    ]
    ordered = _ordered(feeds)
    if not ordered:
        parts.append("<p>No feeds yet.</p>\n")
    for kind, group in groupby(ordered, key=lambda f: f.kind):
        section = "kind-" + re.sub(r"[^a-z0-9]+", "-", kind.lower())
        parts.append(
            f'<section aria-labelledby="{section}">\n<h2 id="{section}">'
            f"{esc(KINDS.get(kind, kind.title()))}</h2>\n<table>\n<thead><tr>"
            '<th scope="col">Feed</th><th scope="col">Key</th><th scope="col">Language</th>'
            '<th scope="col">Subscribe</th></tr></thead>\n<tbody>\n'
        )
        parts += [_row(feed) for feed in group]
        parts.append("</tbody>\n</table>\n</section>\n")
    parts.append("</main>\n</body>\n</html>\n")
    return "".join(parts)


def _row(feed: Listing) -> str:
    esc = html.escape
    lang = f'lang="{esc(feed.language)}"' + (' dir="rtl"' if is_rtl(feed.language) else "")
    language = LANGUAGE_NAMES.get(feed.language, feed.language)
    links = [
        f'<a href="{esc(feed.url(fmt))}" type="{MEDIA_TYPES[fmt].split(";")[0]}">'
        f"{FORMAT_NAMES[fmt]}</a>"
        for fmt in FORMATS
    ]
    if feed.html:
        links.append(f'<a href="{esc(feed.html)}">Web page</a>')
    return (
        f'<tr><th scope="row"><span {lang}>{esc(feed.name)}</span></th>'
        f"<td>{esc(feed.key)}</td><td><span {lang}>{esc(language)}</span></td>"
        f"<td>{' '.join(links)}</td></tr>\n"
    )
