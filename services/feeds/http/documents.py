"""The feed document routes: a publisher's, a network's and a partner's feed, and their RFC 5005
archives. What :class:`~services.feeds.http.server.FeedDocuments` answers before routing, these
answer for a traced request, through the same server; they also document it (OpenAPI)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPBearer

from services.feeds.http.server import Server
from services.feeds.render import FORMATS, MEDIA_TYPES
from services.feeds.web import ErrorBody

# The OpenAPI document of the feed routes (what FeedDocuments answers, too).
_CONDITIONAL = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("If-None-Match", "If-Modified-Since")
]
TEXT = {"schema": {"type": "string"}}
_JSON_FEED = {"schema": {"type": "object", "required": ["version", "title", "items"]}}
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The feed document: Atom, RSS 2.0 or JSON Feed 1.1, by the extension",
        "content": {
            MEDIA_TYPES[fmt].split(";")[0]: _JSON_FEED if fmt == "json" else TEXT for fmt in FORMATS
        },
    },
    304: {"description": "Not modified since the If-None-Match or If-Modified-Since given"},
    404: {"model": ErrorBody, "description": "No such feed, language, format or archive page"},
}
PRIVATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **FEED_RESPONSES,
    401: {"model": ErrorBody, "description": "No token, or not a valid token of this partner"},
}
#: A partner's feed token, in any of its three places (documented; FeedServer reads them).
PARTNER_TOKEN = [
    Security(HTTPBearer(auto_error=False, scheme_name="partnerBearer")),
    Security(APIKeyHeader(name="X-Feed-Token", auto_error=False, scheme_name="partnerHeader")),
    Security(APIKeyQuery(name="token", auto_error=False, scheme_name="partnerQuery")),
]
DOC = "Formats: .atom, .rss, .json. Archives (RFC 5005) under {lang}/archive/{n}.{fmt}."
PUBLIC: dict[str, Any] = {
    "response_class": Response,
    "responses": FEED_RESPONSES,
    "openapi_extra": {"parameters": _CONDITIONAL},
}
PRIVATE: dict[str, Any] = {
    **PUBLIC,
    "responses": PRIVATE_RESPONSES,
    "dependencies": PARTNER_TOKEN,
}

router = APIRouter()


@router.get("/feeds/{publisher}/{name}", summary="A publisher's feed", description=DOC, **PUBLIC)
async def publisher_feed(publisher: str, name: str, request: Request, server: Server) -> Response:
    return await server.respond(request, "publisher", publisher, name)


@router.get(
    "/feeds/{publisher}/{lang}/archive/{name}", summary="A publisher feed's archive", **PUBLIC
)
async def publisher_archive(
    publisher: str, lang: str, name: str, request: Request, server: Server
) -> Response:
    return await server.respond(request, "publisher", publisher, name, lang)


@router.get("/networks/{network}/{name}", summary="A network's feed", description=DOC, **PUBLIC)
async def network_feed(network: str, name: str, request: Request, server: Server) -> Response:
    return await server.respond(request, "network", network, name)


@router.get(
    "/networks/{network}/{lang}/archive/{name}", summary="A network feed's archive", **PUBLIC
)
async def network_archive(
    network: str, lang: str, name: str, request: Request, server: Server
) -> Response:
    return await server.respond(request, "network", network, name, lang)


@router.get(
    "/partners/{partner}/{name}", summary="A partner's private feed", description=DOC, **PRIVATE
)
async def partner_feed(partner: str, name: str, request: Request, server: Server) -> Response:
    return await server.respond(request, "partner", partner, name)


@router.get(
    "/partners/{partner}/{lang}/archive/{name}", summary="A partner feed's archive", **PRIVATE
)
async def partner_archive(
    partner: str, lang: str, name: str, request: Request, server: Server
) -> Response:
    return await server.respond(request, "partner", partner, name, lang)
