"""The language of the web pages' interface (the editor desk, the partner portal): which one a
request gets, and its messages, numbers and dates.

The choice, in order: the language the person picked with the switch on every page (a cookie,
:data:`COOKIE`), else the first of :data:`UI_LANGUAGES` their browser's ``Accept-Language``
asks for, else the page's own default (the publisher's language on the desk, English on the
portal). Messages come from gettext catalogues (``<package>/locales/<lang>/LC_MESSAGES/
messages.po``, read with Babel): the service's own over the shared layout's. Numbers are
written with Babel's locale data in the language's own digits (Persian ``۱۲۳``, Arabic-Indic
``١٢٣``); dates are Jalali in Persian (:func:`shared.display.local_time`), Babel's
Gregorian formats in the others.

Templates use Jinja2's i18n extension (``{% trans %}``, ``_()``), installed by :func:`install`;
every render passes the request's :class:`Ui` as ``ui``.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel import Locale
from babel.dates import format_skeleton
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from shared import display, languages

#: The interface languages, in the order the switch lists them.
UI_LANGUAGES: tuple[str, ...] = ("fa", "ar", "en", "ru")
DEFAULT = "en"
#: The cookie that remembers the switch's choice (a year; only a preference, so ``Lax``).
COOKIE = "ui_lang"
COOKIE_AGE = timedelta(days=365)
#: Interface digits where the language's own differ from Latin ones (numbers, dates, counts).
_DIGITS = {
    "fa": str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"),
    "ar": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),
}
#: Babel's numbering system for the separators: Persian's default (``arabext``: ٬ and ٫);
#: Arabic's ``arab`` (٬ and ٫ with Arabic-Indic digits), as the Middle East writes it.
_NUMBERING = {"fa": "arabext", "ar": "arab"}
SHARED_LOCALES = Path(__file__).resolve().parent / "locales"


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues where it is defined; it is translated where shown."""
    return message


#: Language names the pages show in the interface language (Russian writes them in lower case:
#: :meth:`Ui.language_name` capitalises one that stands alone); others come from Babel's
#: locale data, else their English name.
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
    "it": N_("Italian"),
    "ur": N_("Urdu"),
    "hy": N_("Armenian"),
    "az": N_("Azerbaijani"),
    "ka": N_("Georgian"),
    "tg": N_("Tajik"),
    "kk": N_("Kazakh"),
    "uz": N_("Uzbek"),
    "prs": N_("Dari"),
    "ps": N_("Pashto"),
    "tt": N_("Tatar"),
}
#: The automatic checks of a machine translation (``services/translate/checks.py``) and the
#: editor's sending back, as the desk and the portal name them; an unknown one as it is.
CHECK_NAMES = {
    "numbers": N_("numbers"),
    "glossary": N_("glossary"),
    "script": N_("script"),
    "copy": N_("copy of the source"),
    "length": N_("length"),
    "repetition": N_("repetition"),
    "empty": N_("empty"),
    "markup": N_("markup"),
    "error": N_("error"),
    "sent-back": N_("sent-back"),
}
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$|^\*$")


def accepted(header: str | None) -> list[str]:
    """The primary languages an ``Accept-Language`` header asks for, most wanted first (by
    ``q``, then by order); refused ones (``q=0``) and malformed parts left out."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not _TAG.match(tag) or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            wanted.append((-quality, position, languages.primary(tag)))
    return list(dict.fromkeys(lang for _, _, lang in sorted(wanted)))


def choose(chosen: str | None, accept_language: str | None, fallback: str | None) -> str:
    """The interface language: the remembered choice, the browser's, the page's default."""
    if chosen in UI_LANGUAGES:
        return str(chosen)
    for lang in accepted(accept_language):
        if lang in UI_LANGUAGES:
            return lang
    default = languages.primary(fallback or DEFAULT)
    return default if default in UI_LANGUAGES else DEFAULT


@cache
def _catalogue(folder: Path, language: str) -> gettext.NullTranslations:
    """One ``.po`` catalogue, compiled in memory (no ``.mo`` files to keep in step)."""
    po = folder / language / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@cache
def translations(folders: tuple[Path, ...], language: str) -> gettext.NullTranslations:
    """The messages of ``language`` from ``folders``, the first one's winning."""
    merged = Translations()
    for folder in reversed(folders):
        found = _catalogue(folder, language)
        if isinstance(found, Translations):
            merged.merge(found)
            merged.plural = found.plural  # merge() keeps the first's rule: English's, else
    return merged


@dataclass(frozen=True)
class Choice:
    """One language of the switch: its code, its own name, where it leads."""

    code: str
    name: str
    href: str
    current: bool


@dataclass(frozen=True)
class Ui:
    """The interface language of one request, and what its pages need of it.

    ``switch``: the route that remembers a choice (``…/language``); ``here``: the page to come
    back to after it."""

    language: str = DEFAULT
    folders: tuple[Path, ...] = (SHARED_LOCALES,)
    switch: str = "/language"
    here: str = "/"
    messages: gettext.NullTranslations = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", translations(self.folders, self.language))

    @property
    def direction(self) -> str:
        return display.direction(self.language)

    @property
    def back(self) -> str:
        """The arrow of a link back, pointing the way the page reads."""
        return "→" if self.direction == "rtl" else "←"

    def gettext(self, message: str) -> str:
        return self.messages.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.messages.ngettext(singular, plural, count)

    def digits(self, text: str) -> str:
        """Latin digits in ``text`` as the interface language writes them."""
        table = _DIGITS.get(self.language)
        return text.translate(table) if table else text

    def number(self, value: int | float) -> str:
        numbering = _NUMBERING.get(self.language, "latn")
        return self.digits(format_decimal(value, locale=self.language, numbering_system=numbering))

    def when(self, value: Any, zone: str | None = None) -> str:
        """A moment of the interface (when a thing was stored, changed, queued): Jalali in
        Persian, else the language's medium date and 24-hour time (Babel's patterns); in
        ``zone``, whose offset follows (in Persian, unless it is Tehran's)."""
        if self.language == "fa":
            return display.local_time(value, "fa", zone)
        moment = display.as_datetime(value)
        if moment is None:
            return ""
        local = moment.astimezone(display.time_zone(zone))
        day = format_skeleton("yMMMd", local, locale=self.language)
        time = format_skeleton("Hm", local, tzinfo=local.tzinfo, locale=self.language)
        joined = str(Locale.parse(self.language).datetime_formats["medium"])
        text = joined.replace("{1}", day).replace("{0}", time)
        return self.digits(f"{text} ({display.utc_offset(local)})")

    def language_name(self, code: str, alone: bool = False) -> str:
        """Language ``code``'s name in the interface language; ``alone`` (a heading, a label):
        with a capital where the language writes one."""
        known = LANGUAGE_NAMES.get(languages.primary(code))
        if known is not None:
            name = self.gettext(known)
        else:
            name = str(Locale.parse(self.language).languages.get(code) or "")
            name = name or display.language_name(code)
        return name[:1].upper() + name[1:] if alone else name

    def check_name(self, check: str) -> str:
        return self.gettext(CHECK_NAMES[check]) if check in CHECK_NAMES else check

    def listing(self, items: Iterable[object]) -> str:
        """Items as the language lists them ("a, b and c", «a، b و c»)."""
        return format_list([str(i) for i in items], locale=self.language)

    def choices(self) -> list[Choice]:
        """The switch: every interface language under its own name, the current one marked."""
        back = quote(self.here, safe="/")
        return [
            Choice(
                code,
                languages.name_of(code, native=True),
                f"{self.switch}/{code}?next={back}",
                code == self.language,
            )
            for code in UI_LANGUAGES
        ]


def ui_in(context: Context) -> Ui:
    """The ``ui`` a render was given; English (the messages' own words) when none."""
    found = context.get("ui")
    return found if isinstance(found, Ui) else Ui()


@pass_context
def _gettext(context: Context, message: str) -> str:
    return ui_in(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return ui_in(context).ngettext(singular, plural, count)


@pass_context
def _number(context: Context, value: int | float) -> str:
    return ui_in(context).number(value)


@pass_context
def _when(context: Context, value: Any, zone: str | None = None) -> str:
    return ui_in(context).when(value, zone)


@pass_context
def _language(context: Context, code: str, alone: bool = False) -> str:
    return ui_in(context).language_name(code, alone)


@pass_context
def _check(context: Context, check: str) -> str:
    return ui_in(context).check_name(str(check))


@pass_context
def _listing(context: Context, items: Iterable[object]) -> str:
    return ui_in(context).listing(items)


def bdi(value: object) -> Markup:
    """``value`` isolated from the text around it (an English name in a Persian sentence)."""
    return Markup("<bdi>{}</bdi>").format(value)


def install(env: Environment) -> None:
    """Jinja2's i18n extension on ``env``, its messages from each render's ``ui``; filters
    ``number``, ``ui_time`` (an interface date), ``ui_language`` (``(true)``: standing alone),
    ``check_name``, ``ui_list`` and ``bdi``."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        number=_number,
        ui_time=_when,
        ui_language=_language,
        check_name=_check,
        ui_list=_listing,
        bdi=bdi,
    )


def safe_next(target: str | None, default: str) -> str:
    """A path of this site to go back to (never another site: ``//host``, ``\\``, a scheme)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)
    ):
        return default
    return target


def here_of(method: str, path: str, query: str, default: str) -> str:
    """The page a switch of language comes back to: this one, when it can be asked for again
    (a GET); else ``default``."""
    if method != "GET":
        return default
    return path + (f"?{query}" if query else "")
