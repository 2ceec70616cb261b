"""How the web pages (the editor desk in ingest, the partner portal in feeds) show things to
people: text direction per language, language names, and dates: Jalali, in Persian digits and
month names, for Persian; Gregorian elsewhere; always in a stated time zone.

Pure functions and the page assets both services share (``shared/templates``: the page layout;
``shared/static``: the style sheet and the little script). The template engine itself (Jinja2) is
the services' own dependency, so nothing here imports it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime  # type: ignore[import-untyped]
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import languages

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Files under ``shared/static`` the services serve, and their media types.
ASSETS = {
    "pages.css": "text/css; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "account.png": "image/png",  # the fediverse accounts' picture, unless a publisher has one
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


#: Whitespace and control characters: browsers drop some of them inside a scheme
#: (``java\tscript:``) and around a URL, so a URL that holds any is not trusted to be what it
#: looks like.
_URL_JUNK = re.compile(r"[\x00-\x20\x7f-\x9f]")
HTTP_SCHEMES = frozenset({"http", "https"})


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute ``http(s)://`` URL with a host, else None: the one kind of
    URL a page or a feed may turn into a link (never ``javascript:``, ``data:`` or ``//host``)."""
    if not isinstance(value, str) or _URL_JUNK.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in HTTP_SCHEMES or not parts.hostname:
        return None
    return value


#: Response headers of every server-rendered page (the desk, the portal): nothing from elsewhere
#: runs, frames or submits.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # The interface's language follows the switch's cookie, else the browser's languages.
    "Vary": "Accept-Language, Cookie",
}
#: FastAPI's own API pages (``/docs``, ``/redoc``) load Swagger UI or ReDoc from their CDN and
#: start them with one inline script of FastAPI's own making: allowed by its hash (see
#: :func:`docs_policy`), never by ``'unsafe-inline'``. Styles may be inline there (both inject
#: them); nothing of ours or of an editor's is on those pages.
DOCS_POLICY = (
    "default-src 'none'; script-src {sources}; "
    "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.jsdelivr.net; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def docs_policy(page: bytes) -> str:
    """The CSP of one of FastAPI's API pages: its inline scripts allowed by their SHA-256."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return DOCS_POLICY.format(sources=" ".join(["https://cdn.jsdelivr.net", *hashes]))


class PageHeaders:
    """ASGI middleware: every HTML response of the service carries :data:`PAGE_HEADERS` (a
    strict CSP among them), whichever route or error handler made it, unless it set a CSP of
    its own; FastAPI's API pages (``docs``: their paths) get :func:`docs_policy` instead."""

    def __init__(self, app: ASGIApp, docs: Iterable[str | None] = ()) -> None:
        self.app = app
        self.docs = frozenset(path for path in docs if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.docs:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if _is_html(headers) and "content-security-policy" not in headers:
                    for name, value in PAGE_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An API page is small and made by FastAPI: held whole, to hash its inline script."""
        start: Message | None = None
        body: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(body)
            headers = MutableHeaders(scope=start)
            if _is_html(headers):
                headers["Content-Security-Policy"] = docs_policy(page)
                for name, value in PAGE_HEADERS.items():
                    headers.setdefault(name, value)
            await send(start)
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, held)


def _is_html(headers: MutableHeaders) -> bool:
    return headers.get("content-type", "").lower().startswith("text/html")


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
    return languages.primary(language or "en")


#: Right to left: the language table's word (``shared/languages.py``).
is_rtl = languages.is_rtl


def direction(language: str | None) -> str:
    """The value of an HTML ``dir`` attribute for text in ``language``."""
    return "rtl" if is_rtl(language) else "ltr"


def language_name(language: str | None, native: bool = False) -> str:
    """The language's English name, or its own (``{{ lang | language_name(true) }}``); else the
    tag itself."""
    return languages.name_of(language, native=native)


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


def time_zone(name: str | None) -> ZoneInfo:
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
        local = moment.astimezone(time_zone(zone))
        day = jdatetime.date.fromgregorian(date=local.date())
        text = f"{day.day} {JALALI_MONTHS[day.month - 1]} {day.year}، ساعت {local:%H:%M}"
        if zone != JALALI_HOME:
            text += f" ({utc_offset(local)})"
        return persian_digits(text)
    local = moment.astimezone(time_zone(timezone))
    return f"{local.day} {GREGORIAN_MONTHS[local.month - 1]} {local.year}, {local:%H:%M} " + (
        f"({utc_offset(local)})"
    )


def utc_offset(local: datetime) -> str:
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
    "http_url": http_url,
}
