"""The feeds service's HTML pages (the directory, the partner portal): Jinja2 templates from
``services/feeds/templates`` and the shared layout (``shared/templates``), escaped by default,
with the display filters of :mod:`shared.display` (direction, language names, Jalali dates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context

from shared import display, i18n
from shared.i18n import N_
from shared.web import interface, page_environment

#: Where the pages' style sheet is served (services/feeds/portal/previews.py).
ASSETS = "/assets"
SITE_NAME = N_("City news feeds")
#: The portal's messages (``locales/``) over the shared layout's.
LOCALES = (Path(__file__).resolve().parent / "locales", i18n.SHARED_LOCALES)
#: Where the language switch remembers a choice (:func:`shared.web.language_router`).
SWITCH = "/language"
HOME = "/feeds"


def ui_of(request: Request) -> i18n.Ui:
    """The portal's interface language for ``request``: chosen, the browser's, else English."""
    return interface(request, LOCALES, SWITCH, HOME, fallback=None)


#: A name in another direction, isolated in plain text (what ``<bdi>`` does in markup).
_ISOLATE = "\u2068{}\u2069"


def translation_note(
    prov: Mapping[str, Any] | None, *, model: bool = False, ui: i18n.Ui | None = None
) -> str:
    """How an entry was translated, for a reader: by a person or a machine (which engine, with
    the ``model`` too where there is room), reviewed by an editor or not, and what the automatic
    checks found ("automatic checks: failed: numbers"); in the interface language of ``ui``
    (English without one). Empty for a source-language entry."""
    if not prov:
        return ""
    ui = ui or i18n.Ui()
    if prov.get("method") == "human":
        if prov.get("reviewed"):
            return ui.gettext("Human translation, reviewed")
        return ui.gettext("Human translation")
    keys = ("engine", "model") if model else ("engine",)
    engine = " ".join(str(prov[k]) for k in keys if prov.get(k))
    if engine and ui.direction == "rtl":
        engine = _ISOLATE.format(engine)
    parts = [
        ui.gettext("Machine translation: %(engine)s") % {"engine": engine}
        if engine
        else ui.gettext("Machine translation")
    ]
    if prov.get("reviewed"):
        parts.append(ui.gettext("approved by an editor"))
    if prov.get("checks_version"):
        parts.append(_checks_note(prov.get("check_failures") or (), ui))
    return " · ".join(parts)


def _checks_note(failures: Any, ui: i18n.Ui) -> str:
    """What the automatic checks found: passed, or which of them failed (each named once)."""
    failed = list(dict.fromkeys(str(f.get("check")) for f in failures))
    if not failed:
        return ui.gettext("automatic checks: passed")
    checks = ui.listing(ui.check_name(c) for c in failed)
    return ui.gettext("automatic checks: failed: %(checks)s") % {"checks": checks}


@pass_context
def _translation_note(context: Context, prov: Mapping[str, Any] | None) -> str:
    return translation_note(prov, ui=i18n.ui_in(context))


ENV = page_environment("services.feeds")
ENV.filters["translation_note"] = _translation_note


def entry_page(
    entry: Mapping[str, Any],
    canonical: str,
    others: Sequence[tuple[str, str]],
    home: str,
    ui: i18n.Ui | None = None,
) -> str:
    """An entry's permalink page: the shared layout and style sheet (no inline style, so the
    strict CSP holds), its text in its own language and direction, a link to the original only
    when that is http(s), and links to its other languages."""
    ui = ui or i18n.Ui()
    note = translation_note(entry.get("provenance"), model=True, ui=ui) or None
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
        ui=ui,
    )
