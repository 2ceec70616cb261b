"""The feeds service's HTML pages (the directory, the partner portal): Jinja2 templates from
``services/feeds/templates`` and the shared layout (``shared/templates``), escaped by default,
with the display filters of :mod:`shared.display` (direction, language names, Jalali dates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from shared import display

#: Where the pages' style sheet is served (services/feeds/portal.py).
ASSETS = "/assets"
SITE_NAME = "City news feeds"


def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader("services.feeds", "templates"), FileSystemLoader(display.TEMPLATES)]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(display.FILTERS)
    return env


ENV = environment()


def entry_page(
    entry: Mapping[str, Any],
    canonical: str,
    others: Sequence[tuple[str, str]],
    home: str,
) -> str:
    """An entry's permalink page: the shared layout and style sheet (no inline style, so the
    strict CSP holds), its text in its own language and direction, a link to the original only
    when that is http(s), and links to its other languages."""
    prov = entry.get("provenance") or {}
    note = None
    if prov:
        method = "Human translation" if prov.get("method") == "human" else "Machine translation"
        engine = " ".join(str(prov[k]) for k in ("engine", "model") if prov.get(k))
        note = f"{method}: {engine}" if engine else method
    return ENV.get_template("entry.html").render(
        site_name=SITE_NAME,
        home=home,
        assets=ASSETS,
        nav=[],
        opml_url=None,
        entry=entry,
        lang=entry["language"],
        canonical=canonical,
        others=others,
        note=note,
        source=display.http_url(entry.get("url")),
    )
