"""Lists of feeds: OPML 2.0 for feed readers, and a small HTML directory page for people.

Pure, like the renderer: the same listings always give the same bytes, in one order (kind, key,
language) whatever order they come in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import groupby

from lxml import etree  # type: ignore[import-untyped]

from services.feeds import pages
from services.feeds.render import FORMATS, MEDIA_TYPES, Format, scrub
from shared.display import http_url
from shared.i18n import N_, Ui
from shared.languages import LANGUAGES

#: The directory's sections, in this order; each heading translated on the page.
KINDS = {"publisher": N_("Publishers"), "network": N_("Networks"), "partner": N_("Partners")}
#: Names of formats, the same in every language.
FORMAT_NAMES = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
OPML_MEDIA_TYPE = "text/x-opml"


@dataclass(frozen=True)
class Listing:
    """One feed in one language."""

    kind: str
    key: str
    name: str  # shown to people, in the feed's language
    language: str
    base: str  # feed URL without the format extension
    html: str | None = None  # a human page for the feed
    preview: str | None = None  # the portal's readable preview of the feed
    handle: str | None = None  # its fediverse account (``@mashhad.en@host``), when it is one

    def url(self, fmt: Format) -> str:
        return f"{self.base}.{fmt}"


def _ordered(feeds: Sequence[Listing]) -> list[Listing]:
    rank = {kind: i for i, kind in enumerate(KINDS)}  # known kinds first, in this order

    def order(f: Listing) -> tuple[int, str, str, str]:
        return rank.get(f.kind, len(rank)), f.kind, f.key, f.language

    # A publisher's site is the registry's word: a link only when it is http(s) (issue 18, 8).
    linkable = (replace(f, html=http_url(f.html)) for f in scrub(tuple(feeds)))
    return sorted(linkable, key=order)


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


def render_directory(
    title: str,
    feeds: Sequence[Listing],
    opml_url: str,
    *,
    partner_form: str | None = None,
    home: str | None = None,
    ui: Ui | None = None,
) -> str:
    """An HTML5 page listing every feed by kind, with a link to each format, to its preview page
    (when the listing has one) and to the OPML, and its fediverse handle (when it has one);
    ``partner_form``: where a partner city posts its token to preview its private feeds. No
    scripts and nothing from elsewhere; each name carries its own lang (and dir for RTL); the rest
    in ``ui``'s language (English without one). Rendered from ``templates/directory.html``."""
    ui = ui or Ui()
    ordered = _ordered(feeds)
    sections = [
        (
            re.sub(r"[^a-z0-9]+", "-", kind.lower()),
            ui.gettext(KINDS[kind]) if kind in KINDS else kind.title(),
            list(group),
        )
        for kind, group in groupby(ordered, key=lambda f: f.kind)
    ]
    return pages.ENV.get_template("directory.html").render(
        title=ui.gettext(scrub(title)),
        site_name=scrub(title),
        home=home or scrub(opml_url).removesuffix(".opml"),
        assets=pages.ASSETS,
        nav=[],
        opml_url=scrub(opml_url),
        sections=sections,
        formats=[(fmt, FORMAT_NAMES[fmt], MEDIA_TYPES[fmt].split(";")[0]) for fmt in FORMATS],
        language_names={code: known.native for code, known in LANGUAGES.items()},
        partner_form=partner_form,
        fediverse=any(f.handle for f in ordered),
        ui=ui,
    )
