"""HTTP conventions every service shares: the error body, refusals, the same-origin rule for
forms, and the Jinja environment of the web pages.

One JSON shape for every refusal of every service, ``{"error": kind, "reason": reason}``, so a
client (and the editor desk) reads any of them the same way; the reason is for a person. Routes
raise :class:`Refused`; the handler :func:`install_refusals` turns it into that body.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from shared import display


class Refused(Exception):
    """A request refused with a reason a person understands (never a 5xx for their input)."""

    def __init__(
        self, status: int, kind: str, reason: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason
        self.headers = dict(headers or {})


def error_response(
    status: int,
    kind: str,
    reason: str,
    *,
    realm: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON refusal body; a 401 names the bearer ``realm`` so clients know what to send."""
    merged = dict(headers or {})
    if status == 401 and realm is not None:
        merged["WWW-Authenticate"] = f'Bearer realm="{realm}"'
    return JSONResponse({"error": kind, "reason": reason}, status_code=status, headers=merged)


def install_refusals(
    api: FastAPI, *, realm: str | None = None, headers: Mapping[str, str] | None = None
) -> None:
    """Answer every :class:`Refused` raised by a route (or a dependency) with the JSON body."""

    async def refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        extra = {**(headers or {}), **exc.headers}
        return error_response(exc.status, exc.kind, exc.reason, realm=realm, headers=extra)

    api.add_exception_handler(Refused, refused)


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
    return env
