"""The lists of public feeds: ``/feeds`` (an HTML directory for people) and ``/feeds.opml`` (for
feed readers), each feed in each of its languages (rendered by :mod:`services.feeds.directory`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from services.feeds import pages
from services.feeds.activitypub.actors import handle_of, host_of
from services.feeds.directory import Listing, render_directory, render_opml
from services.feeds.http.documents import TEXT
from services.feeds.http.server import Server
from services.feeds.publishing import FeedRef, Feeds, Kind
from shared import display

#: The directory's title (translated on the page; the OPML's stays English, for feed readers).
TITLE = pages.SITE_NAME
LISTED = {"Cache-Control": "public, max-age=60"}
#: The directory page is in the reader's interface language: cached apart by what chooses it.
PAGE = {**LISTED, "Vary": display.PAGE_HEADERS["Vary"]}

router = APIRouter()


def fediverse_handle(feeds: Feeds, feed: FeedRef) -> str | None:
    """What a person types into Mastodon's search to follow ``feed`` (``@mashhad.en@host``):
    only while the feeds are fediverse accounts, and never for a partner's private feed."""
    if not feeds.fediverse or feed.kind == "partner":
        return None
    return f"@{handle_of(feed)}@{host_of(feeds.public_url)}"


async def listings(feeds: Feeds) -> list[Listing]:
    """Every public feed in every language it has: publishers', then networks'."""
    out: list[Listing] = []
    for pub in await feeds.registry.publishers():
        out += await _languages_of(feeds, "publisher", pub.id, pub.name, pub.site)
    for net in await feeds.registry.networks():
        out += await _languages_of(feeds, "network", net.id, net.name)
    return out


async def _languages_of(
    feeds: Feeds, kind: Kind, key: str, name: str, site: str | None = None
) -> list[Listing]:
    out: list[Listing] = []
    for lang in await feeds.feed_languages(kind, key) or []:
        feed = FeedRef(kind, key, lang)
        base = f"{feeds.public_url}{feed.path}"
        # The partner portal's page for the feed (services/feeds/portal).
        preview = f"{feeds.public_url}/preview{feed.path}"
        handle = fediverse_handle(feeds, feed)
        out.append(Listing(kind, key, name, lang, base, site, preview=preview, handle=handle))
    return out


@router.get("/feeds", summary="Directory of public feeds (HTML)", response_class=HTMLResponse)
async def directory(server: Server, request: Request) -> HTMLResponse:
    feeds = server.feeds
    page = render_directory(
        TITLE,
        await listings(feeds),
        f"{feeds.public_url}/feeds.opml",
        partner_form=f"{feeds.public_url}/preview/partners",
        ui=pages.ui_of(request),
    )
    return HTMLResponse(page, headers=PAGE)


@router.get(
    "/feeds.opml",
    summary="Every public feed as OPML",
    response_class=Response,
    responses={200: {"description": "OPML 2.0", "content": {"text/x-opml": TEXT}}},
)
async def opml(server: Server) -> Response:
    body = render_opml(TITLE, await listings(server.feeds))
    return Response(body, media_type="text/x-opml; charset=utf-8", headers=LISTED)
