"""The feeds service's HTML pages (the directory, the partner portal): Jinja2 templates from
``services/feeds/templates`` and the shared layout (``shared/templates``), escaped by default,
with the display filters of :mod:`shared.display` (direction, language names, Jalali dates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared import display
from shared.web import page_environment

#: Where the pages' style sheet is served (services/feeds/portal/previews.py).
ASSETS = "/assets"
SITE_NAME = "City news feeds"


def translation_note(prov: Mapping[str, Any] | None, *, model: bool = False) -> str:
    """How an entry was translated, for a reader: by a person or a machine (which engine, with
    the ``model`` too where there is room), reviewed by an editor or not, and what the automatic
    checks found ("automatic checks: failed: numbers"). Empty for a source-language entry."""
    if not prov:
        return ""
    if prov.get("method") == "human":
        return "Human translation, reviewed" if prov.get("reviewed") else "Human translation"
    keys = ("engine", "model") if model else ("engine",)
    engine = " ".join(str(prov[k]) for k in keys if prov.get(k))
    parts = [f"Machine translation: {engine}" if engine else "Machine translation"]
    if prov.get("reviewed"):
        parts.append("approved by an editor")
    if prov.get("checks_version"):
        failed = list(dict.fromkeys(str(f.get("check")) for f in prov.get("check_failures") or ()))
        parts.append(
            f"automatic checks: failed: {', '.join(failed)}"
            if failed
            else "automatic checks: passed"
        )
    return " · ".join(parts)


ENV = page_environment("services.feeds")
ENV.filters["translation_note"] = translation_note


def entry_page(
    entry: Mapping[str, Any],
    canonical: str,
    others: Sequence[tuple[str, str]],
    home: str,
) -> str:
    """An entry's permalink page: the shared layout and style sheet (no inline style, so the
    strict CSP holds), its text in its own language and direction, a link to the original only
    when that is http(s), and links to its other languages."""
    note = translation_note(entry.get("provenance"), model=True) or None
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
