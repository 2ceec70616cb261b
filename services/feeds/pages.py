"""The feeds service's HTML pages (the directory, the partner portal): Jinja2 templates from
``services/feeds/templates`` and the shared layout (``shared/templates``), escaped by default,
with the display filters of :mod:`shared.display` (direction, language names, Jalali dates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context

from shared import display, i18n, languages
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


#: The languages a page names inside a sentence ("Preview of the English feed"), in the
#: interface language; any other is named by Babel's locale data, else by its English name.
LANGUAGE_NAMES = {
    "fa": N_("Persian"),
    "en": N_("English"),
    "ar": N_("Arabic"),
    "ru": N_("Russian"),
    "tr": N_("Turkish"),
    "zh": N_("Chinese"),
    "de": N_("German"),
    "fr": N_("French"),
    "es": N_("Spanish"),
    "ur": N_("Urdu"),
    "tt": N_("Tatar"),
}
#: The automatic checks (services/translate/checks.py, policy.SENT_BACK) as a reader is told of
#: a failed one; in English their own names, as the notes always said.
CHECK_NAMES = {
    "empty": N_("empty"),
    "numbers": N_("numbers"),
    "glossary": N_("glossary"),
    "script": N_("script"),
    "copy": N_("copy"),
    "length": N_("length"),
    "repetition": N_("repetition"),
    "markup": N_("markup"),
    "error": N_("error"),
    "sent-back": N_("sent-back"),
}
#: How a list of names is separated in a language (the Arabic comma in Persian and Arabic).
_COMMA = {"fa": "، ", "ar": "، "}
#: A name in another direction, isolated in plain text (what ``<bdi>`` does in markup).
_ISOLATE = "\u2068{}\u2069"


def language_in(ui: i18n.Ui, code: str) -> str:
    """The name of language ``code`` in the interface language of ``ui``."""
    known = LANGUAGE_NAMES.get(languages.primary(code))
    if known is not None:
        return ui.gettext(known)
    try:
        named = Locale.parse(ui.language).languages.get(code)
    except (ValueError, UnknownLocaleError):
        named = None
    return str(named) if named else display.language_name(code)


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
    names = [ui.gettext(CHECK_NAMES[c]) if c in CHECK_NAMES else c for c in failed]
    checks = _COMMA.get(ui.language, ", ").join(names)
    return ui.gettext("automatic checks: failed: %(checks)s") % {"checks": checks}


@pass_context
def _translation_note(context: Context, prov: Mapping[str, Any] | None) -> str:
    return translation_note(prov, ui=i18n.ui_in(context))


@pass_context
def _language_in(context: Context, code: str, alone: bool = False) -> str:
    """``{{ lang | ui_language }}`` in a sentence; ``ui_language(true)`` by itself (a heading, a
    list), with a capital where the language writes one (Russian writes names in lower case)."""
    name = language_in(i18n.ui_in(context), code)
    return name[:1].upper() + name[1:] if alone else name


ENV = page_environment("services.feeds")
ENV.filters.update(translation_note=_translation_note, ui_language=_language_in)


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
