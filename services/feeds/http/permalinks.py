"""One entry by itself: ``/entries/{article}/{lang}``, its permalink page (every feed format
links it), and ``/entries/{article}/{lang}.json``, what the feeds carry of it (the editor desk
shows it beside its source). Only an entry partners may see: 404 or 410 otherwise."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse

from services.feeds import pages
from services.feeds.http.documents import TEXT
from services.feeds.http.server import Server
from services.feeds.publishing import Feeds
from services.feeds.web import ErrorBody, error
from shared import display, i18n

LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
#: What ``/entries/{article}/{lang}.json`` shows of a stored entry (not its bookkeeping).
ENTRY_FIELDS = (
    "article_id", "language", "version", "revision", "status", "headline", "body_html",
    "published", "updated", "publisher", "url", "subjects", "byline", "provenance",
)  # fmt: skip

router = APIRouter()


async def published_entry(feeds: Feeds, article_id: str, lang: str) -> dict[str, Any] | Response:
    """An entry partners may see, or the 404 or 410 that says why not."""
    if not LANG.match(lang):
        return error(404, f"no language {lang!r}")
    entry = await feeds.store.entry(article_id, lang)
    if entry is None:
        return error(404, f"no entry {article_id} in {lang!r}")
    if entry["status"] == "withdrawn":
        return error(410, f"{article_id} was withdrawn by its publisher")
    return entry


# Ahead of the entry page's route, which would otherwise take ``en.json`` for a language.
@router.get(
    "/entries/{article_id}/{lang}.json",
    summary="One entry as JSON: what the feeds carry (the editor desk shows it)",
    responses={404: {"description": "No such entry"}, 410: {"description": "Withdrawn"}},
)
async def entry_json(article_id: str, lang: str, server: Server) -> Response:
    entry = await published_entry(server.feeds, article_id, lang)
    if isinstance(entry, Response):
        return entry
    return JSONResponse(
        jsonable_encoder({k: entry.get(k) for k in ENTRY_FIELDS}),
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/entries/{article_id}/{lang}",
    summary="One entry as a page (its permalink)",
    response_class=Response,
    responses={
        200: {"description": "The entry as an HTML page", "content": {"text/html": TEXT}},
        404: {"model": ErrorBody, "description": "No such entry"},
        410: {"model": ErrorBody, "description": "Withdrawn by its publisher"},
    },
)
async def entry_page(article_id: str, lang: str, server: Server, request: Request) -> Response:
    feeds = server.feeds
    entry = await published_entry(feeds, article_id, lang)
    if isinstance(entry, Response):
        return entry
    others = (await feeds.store.languages([article_id])).get(article_id, {})
    page = _entry_html(feeds, entry, others, pages.ui_of(request))
    return HTMLResponse(page, headers={"Vary": display.PAGE_HEADERS["Vary"]})


def _entry_html(feeds: Feeds, entry: dict[str, Any], others: dict[str, str], ui: i18n.Ui) -> str:
    """The entry's page (services/feeds/templates/entry.html), linking its other languages."""
    lang = entry["language"]
    links = [
        (o, feeds.permalink(entry["article_id"], o))
        for o, status in sorted(others.items())
        if o != lang and status == "active"
    ]
    canonical = feeds.permalink(entry["article_id"], lang)
    return pages.entry_page(entry, canonical, links, f"{feeds.public_url}/feeds", ui)
