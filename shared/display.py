"""How the web pages (the editor desk in ingest, the partner portal in feeds) show things to
people: text direction per language, language names, and dates: Jalali, in Persian digits and
month names, for Persian; Gregorian elsewhere; always in a stated time zone.

Pure functions and the page assets both services share (``shared/templates``: the page layout;
``shared/static``: the style sheet and the little script). The template engine itself (Jinja2) is
the services' own dependency, so nothing here imports it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime  # type: ignore[import-untyped]
from starlette.responses import Response

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Files under ``shared/static`` the services serve, and their media types.
ASSETS = {
    "pages.css": "text/css; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
}


def asset(name: str) -> Response:
    """One of :data:`ASSETS` as the desk and the portal serve it (404 for any other name)."""
    if name not in ASSETS:
        return Response("not found", 404, media_type="text/plain")
    return Response(
        (STATIC / name).read_bytes(),
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur", "ps", "ckb", "yi", "dv"})
#: English name, and the language's own name for itself.
LANGUAGES: dict[str, tuple[str, str]] = {
    "fa": ("Persian", "فارسی"),
    "ar": ("Arabic", "العربية"),
    "en": ("English", "English"),
    "ru": ("Russian", "Русский"),
    "tr": ("Turkish", "Türkçe"),
    "zh": ("Chinese", "中文"),
    "fr": ("French", "Français"),
    "de": ("German", "Deutsch"),
    "es": ("Spanish", "Español"),
}
#: Response headers of every server-rendered page (the desk, the portal): nothing from elsewhere
#: runs, frames or submits.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
JALALI_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
GREGORIAN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
#: The zone Jalali dates are read in when a page names none (where the Jalali calendar is used).
JALALI_HOME = "Asia/Tehran"


def primary(language: str | None) -> str:
    """``fa`` of ``fa-IR``; ``en`` when unknown."""
    return (language or "en").replace("_", "-").split("-")[0].lower()


def is_rtl(language: str | None) -> bool:
    return primary(language) in RTL_LANGUAGES


def direction(language: str | None) -> str:
    """The value of an HTML ``dir`` attribute for text in ``language``."""
    return "rtl" if is_rtl(language) else "ltr"


def language_name(language: str | None, native: bool = False) -> str:
    names = LANGUAGES.get(primary(language))
    if names is None:
        return language or ""
    return names[1] if native else names[0]


def persian_digits(text: str) -> str:
    return text.translate(_PERSIAN_DIGITS)


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a stored value (BSON gives naive UTC datetimes) or an ISO 8601 string;
    None when there is none or it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: Any, language: str | None, timezone: str | None = None) -> str:
    """A date and time for people reading ``language``: in Persian, the Jalali date in Persian
    digits and month names (``۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱``); otherwise the Gregorian one
    (``29 April 2025, 07:21``). In ``timezone`` (Persian: Tehran's when none is given), whose
    offset follows unless it is Tehran's time shown in Persian."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    if primary(language) == "fa":
        zone = timezone or JALALI_HOME
        local = moment.astimezone(_zone(zone))
        day = jdatetime.date.fromgregorian(date=local.date())
        text = f"{day.day} {JALALI_MONTHS[day.month - 1]} {day.year}، ساعت {local:%H:%M}"
        if zone != JALALI_HOME:
            text += f" ({_offset(local)})"
        return persian_digits(text)
    local = moment.astimezone(_zone(timezone))
    return f"{local.day} {GREGORIAN_MONTHS[local.month - 1]} {local.year}, {local:%H:%M} " + (
        f"({_offset(local)})"
    )


def _offset(local: datetime) -> str:
    offset = local.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def iso(value: Any) -> str:
    """The machine-readable form for a ``<time datetime=…>`` attribute."""
    moment = as_datetime(value)
    return moment.isoformat() if moment else ""


def date_language(language: str | None) -> str:
    """The language a date from :func:`local_time` is written in (for its ``lang`` attribute)."""
    return "fa" if primary(language) == "fa" else "en"


#: For a template engine's filters: ``{{ lang | direction }}``, ``{{ when | local_time(lang) }}``.
FILTERS = {
    "direction": direction,
    "language_name": language_name,
    "local_time": local_time,
    "iso": iso,
    "date_language": date_language,
    "persian_digits": persian_digits,
}
