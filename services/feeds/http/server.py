"""The hot path: feed documents (current and archived) answered from this replica's memory for
``FEEDS_CACHE_SECONDS`` (see :mod:`services.feeds.cache` for what that costs in staleness), each
with its header lists and gzip bytes made once, by :class:`FeedServer`. The server also sits in
front of the app as a plain ASGI middleware (:class:`FeedDocuments`): a GET of a feed document is
answered there, without routing, request objects or the gzip middleware. Every other request, and
one that carries a ``traceparent`` (so that it is traced), goes through the routes
(:mod:`services.feeds.http.documents`), which give the same answers through the same server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, cast
from urllib.parse import parse_qsl

from fastapi import Depends, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.feeds.cache import Document, DocumentCache, Header, TTLCache
from services.feeds.publishing import EAGER, FeedRef, Feeds, Kind
from services.feeds.render import FORMATS, Format
from services.feeds.store import Rendered
from services.feeds.web import app_state, error

FEED_NAME = re.compile(r"^(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.(?P<fmt>[a-z]+)$")
PAGE_NAME = re.compile(r"^(?P<page>[0-9]{1,9})\.(?P<fmt>[a-z]+)$")
# The paths of the feed document routes (services/feeds/http/documents.py): {root}/{key}/{name} and
# {root}/{key}/{lang}/archive/{name}, in one of the feed formats: any other name (``en.ninjs``,
# services/feeds/http/ninjs.py) goes on to the routes.
DOCUMENT_PATH = re.compile(
    r"^/(?P<root>feeds|networks|partners)/(?P<key>[^/]+)/"
    r"(?:(?P<lang>[^/]+)/archive/)?(?P<name>[^/]+\.(?:atom|rss|json))$"
)
KINDS: dict[str, Kind] = {"feeds": "publisher", "networks": "network", "partners": "partner"}
VARY = "Accept-Encoding, Authorization, X-Feed-Token"


@dataclass(frozen=True)
class Conditions:
    """What of a request decides the answer for a feed document."""

    if_none_match: str | None = None
    if_modified_since: str | None = None
    gzip: bool = False
    token: str | None = None

    @classmethod
    def of(cls, request: Request) -> Conditions:
        headers = request.headers
        return cls(
            headers.get("if-none-match"),
            headers.get("if-modified-since"),
            "gzip" in headers.get("accept-encoding", ""),  # as GZipMiddleware decides
            partner_token(
                headers.get("authorization"),
                headers.get("x-feed-token"),
                request.query_params.get("token"),
            ),
        )

    @classmethod
    def of_scope(cls, scope: Scope, with_token: bool) -> Conditions | None:
        """The same from the raw ASGI scope, reading it as Starlette does (the first of a
        repeated header, the last of a repeated query parameter); None for a request that
        carries a ``traceparent``."""
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name == b"traceparent":
                return None
            found.setdefault(name, value)
        text = {k.decode(): v.decode("latin-1") for k, v in found.items() if k in _CONDITIONS}
        token = None
        if with_token:
            query = None
            for key, value in parse_qsl(scope["query_string"].decode("latin-1"), True):
                if key == "token":
                    query = value
            token = partner_token(text.get("authorization"), text.get("x-feed-token"), query)
        return cls(
            text.get("if-none-match"),
            text.get("if-modified-since"),
            "gzip" in text.get("accept-encoding", ""),
            token,
        )


_CONDITIONS = (
    b"if-none-match",
    b"if-modified-since",
    b"accept-encoding",
    b"authorization",
    b"x-feed-token",
)


def partner_token(
    authorization: str | None, x_feed_token: str | None, query: str | None
) -> str | None:
    auth = authorization or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return x_feed_token or query or None


def not_modified(conditions: Conditions, doc: Document) -> bool:
    inm = conditions.if_none_match
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return doc.etag in tags or inm.strip() == "*"
    ims = conditions.if_modified_since
    if ims:
        try:
            return parsedate_to_datetime(ims) >= doc.last_modified
        except (TypeError, ValueError):
            return False
    return False


class PrebuiltResponse(Response):
    """A response whose header list was built beforehand."""

    def __init__(self, status: int, headers: list[Header], body: bytes) -> None:
        super().__init__(body, status)
        self.raw_headers = list(headers)  # a copy: middlewares may change it


Answer = tuple[int, list[Header], bytes]


class FeedServer:
    """Finds feed documents (through this replica's cache) and answers for them."""

    def __init__(
        self,
        feeds: Feeds,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feeds = feeds
        self.documents = DocumentCache(cache_seconds, clock)
        self.languages: TTLCache[list[str] | None] = TTLCache(cache_seconds, clock=clock)
        # A change consumed by this replica reaches its own cache at once (renders are made
        # on request, so a render stored here never needs to be forgotten).
        feeds.on_change.append(self.documents.forget)

    async def find(
        self, kind: Kind, key: str, name: str, lang: str | None, token: str | None
    ) -> Document | Response:
        """The document ``name`` of a feed (``lang`` is set for an archive page), or an error."""
        archive = lang is not None
        if lang is None:
            match = FEED_NAME.match(name)
            if not match:
                return error(404, f"no feed {name!r}: use {{language}}.atom, .rss or .json")
            lang = match["lang"]
        else:
            match = PAGE_NAME.match(name)
            if not match:
                return error(404, f"no archive page {name!r}: use {{number}}.atom, .rss or .json")
        feed = await self.resolve(kind, key, lang, match["fmt"], token)
        if isinstance(feed, Response):
            return feed
        fmt = cast(Format, match["fmt"])
        scope = "private" if kind == "partner" else "public"
        if not archive:
            found = await self.documents.get(
                f"{feed.id}.{fmt}",
                lambda: self._document(
                    self.feeds.rendered(feed, fmt),
                    self.feeds.url(feed, fmt),
                    f"{scope}, max-age=60",
                ),
                lambda doc: self.current(feed, doc),
            )
            if found is None:  # rendered when missing: only a failed write leaves it so
                raise RuntimeError(f"{feed.id}.{fmt} was rendered but cannot be read back")
            return found
        page = int(match["page"])
        archived = await self.documents.get(
            f"{feed.id}#{page}.{fmt}",
            lambda: self._document(
                self.feeds.archive(feed, page, fmt),
                f"{self.feeds.archive_base(feed, page)}.{fmt}",
                f"{scope}, max-age=86400",
            ),
        )
        if archived is None:
            return error(404, f"archive page {page} of {feed.id} does not exist (yet)")
        return archived

    async def current(self, feed: FeedRef, doc: Document | None) -> bool:
        """Whether a cached subscription document is still the one to serve: one read of a small
        version document, instead of the render (a few KB to a few hundred)."""
        if doc is None or doc.version is None:
            return False
        return await self.feeds.store.is_current(f"{feed.id}.{EAGER}", feed.id, doc.version)

    async def resolve(
        self, kind: Kind, key: str, lang: str, fmt: str, token: str | None
    ) -> FeedRef | Response:
        if fmt not in FORMATS:
            return error(404, f"no format {fmt!r}: use {', '.join(FORMATS)}")
        if kind == "partner":  # judged at every request (the registry caches the token)
            challenge = {"WWW-Authenticate": 'Bearer realm="partner feeds"'}
            if token is None:
                return error(
                    401,
                    "partner feeds are private: send the partner's feed token as "
                    "'Authorization: Bearer <token>', 'X-Feed-Token' or '?token='",
                    challenge,
                    code="feed_token_missing",
                )
            partner = await self.feeds.registry.partner_for_token(token)
            if partner is None or partner.id != key:
                return error(401, "this feed token is unknown, revoked or expired", challenge)
        langs = await self.languages.get(
            f"{kind}/{key}", lambda: self.feeds.feed_languages(kind, key)
        )
        if langs is None:
            return error(404, f"unknown {kind} {key!r}")
        if lang not in langs:
            return error(404, f"{kind} {key} has no {lang!r} feed; languages: {', '.join(langs)}")
        return FeedRef(kind, key, lang)

    async def _document(
        self, rendered: Awaitable[Rendered | None], self_url: str, cache_control: str
    ) -> Document | None:
        found = await rendered
        if found is None:
            return None
        last_modified = format_datetime(found.last_modified, usegmt=True)
        links = [f'<{self_url}>; rel="self"']
        if self.feeds.hub_url:
            links.insert(0, f'<{self.feeds.hub_url}>; rel="hub"')
        headers = {
            "etag": found.etag,
            "last-modified": last_modified,
            "cache-control": cache_control,
            "link": ", ".join(links),
            "vary": VARY,
        }
        return Document(
            body=found.body,
            media_type=found.media_type,
            etag=found.etag,
            last_modified=parsedate_to_datetime(last_modified),
            headers=[(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
            version=found.source or found.etag,
        )

    async def answer(self, doc: Document, conditions: Conditions) -> Answer:
        if not_modified(conditions, doc):
            return 304, doc.headers, b""
        if conditions.gzip and doc.compressible:
            headers, body = await doc.gzipped()
            return 200, headers, body
        return 200, doc.identity, doc.body

    async def respond(
        self, request: Request, kind: Kind, key: str, name: str, lang: str | None = None
    ) -> Response:
        """For the routes: the same answer as :class:`FeedDocuments` gives."""
        conditions = Conditions.of(request)
        found = await self.find(kind, key, name, lang, conditions.token)
        if isinstance(found, Response):
            return found
        return PrebuiltResponse(*await self.answer(found, conditions))


class FeedDocuments:
    """ASGI middleware: a GET of a feed document is answered by the :class:`FeedServer` right
    here; anything else (and a request with a ``traceparent``) goes on to the app."""

    def __init__(self, app: ASGIApp, server: FeedServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET":
            match = DOCUMENT_PATH.match(scope["path"])
        conditions = None
        if match is not None:
            conditions = Conditions.of_scope(scope, with_token=match["root"] == "partners")
        if match is None or conditions is None:
            await self.app(scope, receive, send)
            return
        found = await self.server.find(
            KINDS[match["root"]], match["key"], match["name"], match["lang"], conditions.token
        )
        if isinstance(found, Response):
            await found(scope, receive, send)
            return
        status, headers, body = await self.server.answer(found, conditions)
        # a copy of the cached list: a middleware in front may change the one it is given
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})


def feed_server(request: Request) -> FeedServer:
    """The app's :class:`FeedServer` (:func:`services.feeds.http.install` made it)."""
    return app_state(request, "feed_server", FeedServer)


#: The app's :class:`FeedServer`, as a declared dependency of the routes that answer from it.
Server = Annotated[FeedServer, Depends(feed_server)]
