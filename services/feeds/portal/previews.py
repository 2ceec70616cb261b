"""A feed as a page (``/preview/{root}/{key}/{lang}``): its JSON Feed document, found through the
same :class:`~services.feeds.http.server.FeedServer` (and so the same access checks and cache)
as a feed reader's request; also the pages' style sheet (``/assets``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

from services.feeds.directory import FORMAT_NAMES
from services.feeds.http.listings import fediverse_handle
from services.feeds.portal.context import (
    PRIVATE,
    PUBLIC,
    TOKEN_NEEDED,
    UNKNOWN_TOKEN,
    Portal,
    PortalOf,
    Token,
)
from services.feeds.publishing import FeedRef, Feeds, Kind
from services.feeds.render import FORMATS, MEDIA_TYPES
from shared import display
from shared.i18n import N_
from shared.web import Problem

ROOTS: dict[str, Kind] = {"feeds": "publisher", "networks": "network", "partners": "partner"}
NOT_FOUND = N_("Not found.")

router = APIRouter(include_in_schema=False)


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    return display.asset(name)


def links(feeds: Feeds, feed: FeedRef) -> list[tuple[str, str, str]]:
    """Where to subscribe to ``feed``: each format's name, URL and media type."""
    return [
        (FORMAT_NAMES[fmt], feeds.url(feed, fmt), MEDIA_TYPES[fmt].split(";")[0]) for fmt in FORMATS
    ]


def refusal(title: str, response: Response) -> Problem:
    """The feed server's refusal as a page says it: in the reader's words where the portal
    knows its ``code``, else with its English reason as the detail."""
    try:
        body = json.loads(bytes(response.body))
        reason = str(body["reason"])
    except (ValueError, KeyError, TypeError):
        return Problem(title, N_("This feed cannot be shown."))
    if body.get("code") == "feed_token_invalid":
        return UNKNOWN_TOKEN
    return Problem(title, detail=reason)


def missing(portal: Portal, status: int, problem: Problem) -> Response:
    return portal.render("preview_missing.html", status, PUBLIC, problem=problem)


@router.get("/preview/{root}/{key}/{lang}")
async def preview(root: str, key: str, lang: str, token: Token, portal: PortalOf) -> Response:
    kind = ROOTS.get(root)
    if kind is None:
        return missing(portal, 404, Problem(NOT_FOUND, N_("There are no feeds at this address.")))
    if kind != "partner":
        token = None  # a public feed's preview never looks at a token
    elif token is None:
        return portal.token_form(key, 401, None)
    found = await portal.server.find(kind, key, f"{lang}.json", None, token)
    if isinstance(found, Response):
        if kind == "partner" and found.status_code == 401:
            return portal.token_form(key, 401, refusal(TOKEN_NEEDED, found))
        return missing(portal, found.status_code, refusal(NOT_FOUND, found))
    document = json.loads(found.body)
    feed = FeedRef(kind, key, lang)
    return portal.render(
        "preview.html",
        200,
        PRIVATE if kind == "partner" else PUBLIC,
        feed=feed,
        root=root,
        document=document,
        items=document.get("items", []),
        zones=await _zones(portal, document),
        links=links(portal.feeds, feed),
        handle=fediverse_handle(portal.feeds, feed),
        others=await _others(portal, feed, root),
        private=kind == "partner",
        sign_out=f"{portal.base}/preview/partners/{quote(key)}/sign-out",
    )


async def _zones(portal: Portal, document: dict[str, Any]) -> dict[str, str]:
    """Each publisher's time zone, by id, for the dates of its items (Jalali in Persian)."""
    zones: dict[str, str] = {}
    for item in document.get("items", []):
        pub = ((item.get("_city_syndication") or {}).get("publisher") or {}).get("id")
        if pub and pub not in zones:
            publisher = await portal.feeds.registry.publisher(pub)
            zones[pub] = publisher.timezone if publisher else "UTC"
    return zones


async def _others(portal: Portal, feed: FeedRef, root: str) -> list[tuple[str, str]]:
    """The previews of the same feed in its other languages."""
    languages = await portal.feeds.feed_languages(feed.kind, feed.key) or [feed.language]
    return [
        (other, f"{portal.base}/preview/{root}/{quote(feed.key)}/{other}")
        for other in languages
        if other != feed.language
    ]
