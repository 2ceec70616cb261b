"""The partner portal: readable previews of the feeds, beside the directory (``/feeds``) and the
OPML (``/feeds.opml``) that :mod:`services.feeds.http` serves.

* ``/preview/feeds/{publisher}/{lang}``, ``/preview/networks/{network}/{lang}``: a public feed as
  a page: each entry's headline, date (Jalali in Persian), publisher, whether a machine or a
  person translated it, and its text, right-to-left where the language is; links to subscribe
  to it in each format and to the same feed in its other languages.
* ``/preview/partners/{partner}/{lang}``: a partner city's private feed, the same way, with the
  partner's feed token. The partner gives it once in a form (``POST /preview/partners``); it is
  then kept in a cookie that is ``HttpOnly``, ``SameSite=Strict`` and scoped to that partner's
  preview pages (``Path=/preview/partners/{partner}``), for 12 hours. An
  ``Authorization: Bearer`` header works too. The form is only taken from pages of this host
  (``Origin``); the token is never put in a URL, a page or a log line.

A preview shows the feed's JSON Feed document, found through the same :class:`FeedServer` (and
so the same access checks and cache) as a feed reader's request: what a partner previews is what
its reader receives.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from services.feeds import pages
from services.feeds.directory import FORMAT_NAMES
from services.feeds.http import FeedServer, partner_token, published_entry
from services.feeds.publishing import FeedPublisher, FeedRef, Kind
from services.feeds.render import FORMATS, MEDIA_TYPES
from shared import display

ROOTS: dict[str, Kind] = {"feeds": "publisher", "networks": "network", "partners": "partner"}
COOKIE = "partner_token"
SESSION_SECONDS = 12 * 3600
HEADERS = display.PAGE_HEADERS
PRIVATE = {**HEADERS, "Cache-Control": "private, no-store"}
#: What ``/entries/{article}/{lang}.json`` shows of a stored entry (not its bookkeeping).
ENTRY_FIELDS = (
    "article_id", "language", "version", "revision", "status", "headline", "body_html",
    "published", "updated", "publisher", "url", "subjects", "byline", "provenance",
)  # fmt: skip
# A preview is cheap (the feed document comes from this replica's cache) and should show a new
# render at once: no caching by the browser.
PUBLIC = {**HEADERS, "Cache-Control": "no-cache"}


def same_origin(request: Request) -> bool:
    """Whether a form post comes from a page of this host (or from a client that says nothing
    of where it comes from, as non-browser clients do)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


def install_entries(api: FastAPI, feeds: FeedPublisher) -> None:
    """``GET /entries/{article}/{lang}.json``: one entry as the feeds carry it, read-only (the
    editor desk shows it beside its source). Installed before the entry pages' route
    (``/entries/{article}/{lang}``), which would otherwise take ``en.json`` for a language."""

    @api.get(
        "/entries/{article_id}/{lang}.json",
        summary="One entry as JSON: what the feeds carry (the editor desk shows it)",
        responses={404: {"description": "No such entry"}, 410: {"description": "Withdrawn"}},
    )
    async def entry_json(article_id: str, lang: str) -> Response:
        entry = await published_entry(feeds, article_id, lang)
        if isinstance(entry, Response):
            return entry
        return JSONResponse(
            jsonable_encoder({k: entry.get(k) for k in ENTRY_FIELDS}),
            headers={"Cache-Control": "no-store"},
        )


def install(api: FastAPI, feeds: FeedPublisher, server: FeedServer) -> None:
    registry = feeds.registry
    base = feeds.public_url
    nav_home = f"{base}/feeds"

    def render(name: str, status: int, headers: dict[str, str], **context: Any) -> HTMLResponse:
        body = pages.ENV.get_template(name).render(
            site_name=pages.SITE_NAME,
            home=nav_home,
            assets=pages.ASSETS,
            nav=[("Directory", nav_home, False), ("OPML", f"{base}/feeds.opml", False)],
            opml_url=f"{base}/feeds.opml",
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=headers)

    def refusal(response: Response) -> str:
        try:
            return str(json.loads(bytes(response.body))["reason"])
        except (ValueError, KeyError, TypeError):
            return "this feed cannot be shown"

    def token_of(request: Request) -> str | None:
        return partner_token(request.headers.get("authorization"), None, None) or (
            request.cookies.get(COOKIE) or None
        )

    def token_form(partner: str, status: int, reason: str | None) -> HTMLResponse:
        problem = {"title": "Feed token needed.", "reason": reason} if reason else None
        return render("partner_token.html", status, PRIVATE, partner=partner, problem=problem)

    @api.get("/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        return display.asset(name)

    @api.post("/preview/partners", include_in_schema=False)
    async def partner_sign_in(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
        partner_id = str(form.get("partner") or "").strip().lower()
        token = str(form.get("token") or "").strip()
        if not same_origin(request):
            return token_form(partner_id, 403, "this form was sent from another site")
        found = await registry.partner_for_token(token) if token else None
        if found is None or found.id != partner_id:
            return token_form(
                partner_id, 401, "this partner and feed token do not go together (or the token "
                "is revoked or expired)"
            )  # fmt: skip
        response = RedirectResponse(
            f"{base}/preview/partners/{quote(found.id)}", 303, headers=PRIVATE
        )
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            path=f"/preview/partners/{found.id}",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto") == "https",
        )
        return response

    @api.post("/preview/partners/{partner_id}/sign-out", include_in_schema=False)
    async def partner_sign_out(partner_id: str, request: Request) -> Response:
        if not same_origin(request):
            return token_form(partner_id, 403, "this form was sent from another site")
        response = RedirectResponse(nav_home, 303, headers=PRIVATE)
        response.delete_cookie(  # quoted: the id came from the path, and goes into a header
            COOKIE,
            path=f"/preview/partners/{quote(partner_id, safe='')}",
            httponly=True,
            samesite="strict",
        )
        return response

    @api.get("/preview/partners/{partner_id}", include_in_schema=False)
    async def partner_home(partner_id: str, request: Request) -> Response:
        token = token_of(request)
        if token is None:
            return token_form(partner_id, 401, None)
        partner = await registry.partner_for_token(token)
        if partner is None or partner.id != partner_id:
            return token_form(partner_id, 401, "this feed token is unknown, revoked or expired")
        feeds_of = [
            {
                "language": lang,
                "preview": f"{base}/preview/partners/{quote(partner.id)}/{lang}",
                "links": links(FeedRef("partner", partner.id, lang)),
            }
            for lang in partner.languages
        ]
        return render("partner.html", 200, PRIVATE, partner=partner, feeds=feeds_of)

    def links(feed: FeedRef) -> list[tuple[str, str, str]]:
        return [
            (FORMAT_NAMES[fmt], feeds.url(feed, fmt), MEDIA_TYPES[fmt].split(";")[0])
            for fmt in FORMATS
        ]

    @api.get("/preview/{root}/{key}/{lang}", include_in_schema=False)
    async def preview(root: str, key: str, lang: str, request: Request) -> Response:
        kind = ROOTS.get(root)
        if kind is None:
            return render(
                "preview_missing.html", 404, PUBLIC, problem={"title": "Not found.",
                "reason": f"no feeds under /{root}"}
            )  # fmt: skip
        token = token_of(request) if kind == "partner" else None
        if kind == "partner" and token is None:
            return token_form(key, 401, None)
        found = await server.find(kind, key, f"{lang}.json", None, token)
        if isinstance(found, Response):
            if kind == "partner" and found.status_code == 401:
                return token_form(key, 401, refusal(found))
            return render(
                "preview_missing.html",
                found.status_code,
                PUBLIC,
                problem={"title": "Not found.", "reason": refusal(found)},
            )
        document = json.loads(found.body)
        feed = FeedRef(kind, key, lang)
        zones: dict[str, str] = {}
        for item in document.get("items", []):
            pub = ((item.get("_city_syndication") or {}).get("publisher") or {}).get("id")
            if pub and pub not in zones:
                publisher = await registry.publisher(pub)
                zones[pub] = publisher.timezone if publisher else "UTC"
        languages = await feeds.feed_languages(kind, key) or [lang]
        others = [
            (other, f"{base}/preview/{root}/{quote(key)}/{other}")
            for other in languages
            if other != lang
        ]
        return render(
            "preview.html",
            200,
            PRIVATE if kind == "partner" else PUBLIC,
            feed=feed,
            root=root,
            document=document,
            items=document.get("items", []),
            zones=zones,
            links=links(feed),
            others=others,
            private=kind == "partner",
            sign_out=f"{base}/preview/partners/{quote(key)}/sign-out",
        )
