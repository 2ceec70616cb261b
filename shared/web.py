"""HTTP conventions every service shares: the error body, refusals, the same-origin rule for
forms, and the Jinja environment of the web pages.

One JSON shape for every refusal of every service, ``{"error": kind, "code": code, "reason":
reason}``, so a client (and the editor desk) reads any of them the same way: the ``code`` is
stable and for programs (the desk shows its message in the editor's language by it), the
``reason`` is English, for a person, and may name what was wrong. Routes raise
:class:`Refused`; the handler :func:`install_refusals` turns it into that body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from shared import display, i18n


class NavLink(NamedTuple):
    """A link of a page's menu: ``label`` a message id (translated where shown), ``number`` a
    number shown beside it (what waits for review)."""

    label: str
    href: str
    current: bool = False
    number: int | None = None


@dataclass(frozen=True)
class Problem:
    """What a page says went wrong: ``title`` and ``message`` are message ids (translated where
    shown); ``detail``, in English, says more (a refusal's own reason), isolated on the page."""

    title: str
    message: str | None = None
    detail: str | None = None


def code_of(kind: str) -> str:
    """The code of a refusal that names none: its kind as an identifier (``invalid_article``)."""
    return re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_") or "refused"


class Refused(Exception):
    """A request refused with a reason a person understands (never a 5xx for their input);
    ``code``: what it is, for programs (the kind's, :func:`code_of`, when not given)."""

    def __init__(
        self,
        status: int,
        kind: str,
        reason: str,
        headers: Mapping[str, str] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason
        self.code = code or code_of(kind)
        self.headers = dict(headers or {})


def error_response(
    status: int,
    kind: str,
    reason: str,
    *,
    realm: str | None = None,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    """The JSON refusal body; a 401 names the bearer ``realm`` so clients know what to send."""
    merged = dict(headers or {})
    if status == 401 and realm is not None:
        merged["WWW-Authenticate"] = f'Bearer realm="{realm}"'
    body = {"error": kind, "code": code or code_of(kind), "reason": reason}
    return JSONResponse(body, status_code=status, headers=merged)


def install_refusals(
    api: FastAPI, *, realm: str | None = None, headers: Mapping[str, str] | None = None
) -> None:
    """Answer every :class:`Refused` raised by a route (or a dependency) with the JSON body."""

    async def refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        extra = {**(headers or {}), **exc.headers}
        return error_response(
            exc.status, exc.kind, exc.reason, realm=realm, headers=extra, code=exc.code
        )

    api.add_exception_handler(Refused, refused)


def over_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (here, or at the proxy in front): then a
    cookie we set is ``Secure``."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def same_origin(request: Request) -> bool:
    """Whether a form post comes from a page of this host, or from a client that says nothing of
    where it comes from (non-browser clients); a cross-site or sandboxed ("null") origin never
    passes. The forms' CSRF tokens are the second guard."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


def page_environment(package: str) -> Environment:
    """The templates of ``package`` (its ``templates/`` folder) over the shared layout, escaped,
    with the display filters (direction, language names, Jalali dates)."""
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader(package, "templates"), FileSystemLoader(display.TEMPLATES)]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(display.FILTERS)
    i18n.install(env)
    env.globals["ui"] = i18n.Ui()  # English, when a render names no request's language
    return env


def interface(
    request: Request, folders: tuple[Path, ...], switch: str, home: str, fallback: str | None
) -> i18n.Ui:
    """The interface language of ``request`` (:func:`shared.i18n.choose`) with the messages of
    ``folders``; the switch's links go through ``switch`` and come back here (or ``home``)."""
    language = i18n.choose(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"), fallback
    )
    here = i18n.here_of(request.method, request.url.path, request.url.query, home)
    return i18n.Ui(language, folders, switch, here)


def language_router(switch: str, home: str) -> APIRouter:
    """``GET {switch}/{code}?next=PATH``: remembers the interface language ``code`` (the
    :data:`shared.i18n.COOKIE`, a year) and goes back to ``PATH`` (a path of this site only,
    else ``home``)."""
    router = APIRouter(include_in_schema=False)

    @router.get(switch + "/{code}")
    async def remember_language(code: str, request: Request, next: str = "") -> Response:
        if code not in i18n.UI_LANGUAGES:
            known = ", ".join(i18n.UI_LANGUAGES)
            reason = f"no interface in {code!r}; there are: {known}"
            raise Refused(404, "not found", reason, code="interface_language_unknown")
        response = RedirectResponse(i18n.safe_next(next, home), 303)
        response.set_cookie(
            i18n.COOKIE,
            code,
            max_age=int(i18n.COOKIE_AGE.total_seconds()),
            path="/",
            samesite="lax",
            httponly=True,
            secure=over_https(request),
        )
        return response

    return router
