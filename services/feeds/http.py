"""Feeds over HTTP: stored bytes with ETag / Last-Modified, 304s, gzip, and WebSub links.

URL scheme (``{fmt}`` is ``atom``, ``rss`` or ``json``):

* ``/feeds/{publisher}/{lang}.{fmt}``: a publisher's feed in one language;
* ``/networks/{network}/{lang}.{fmt}``: a network's feed, all its members;
* ``/partners/{partner}/{lang}.{fmt}``: a partner city's private feed (token in
  ``Authorization: Bearer``, ``X-Feed-Token`` or ``?token=``);
* ``{feed}/archive/{n}.{fmt}``: RFC 5005 archive pages of any of the above, oldest is 0;
* ``/feeds`` (HTML) and ``/feeds.opml``: the directory of public feeds;
* ``/entries/{article}/{lang}``: one entry as a page (the entries' permalinks).

The hot path. Feed documents (current and archived) are answered by :class:`FeedServer` from
this replica's memory for ``FEEDS_CACHE_SECONDS`` (see :mod:`services.feeds.cache` for what
that costs in staleness), each with its header lists and gzip bytes made once. The server also
sits in front of the app as a plain ASGI middleware (:class:`FeedDocuments`): a GET of a feed
document is answered there, without routing, request objects or the gzip middleware. Every
other request, and one that carries a ``traceparent`` (so that it is traced), goes through the
routes, which give the same answers through the same :class:`FeedServer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, Request, Response, Security
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPBearer
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from services.feeds import pages
from services.feeds.admin import ErrorBody
from services.feeds.cache import Document, DocumentCache, Header, TTLCache, forget_on_write
from services.feeds.directory import Listing, render_directory, render_opml
from services.feeds.publishing import EAGER, FeedPublisher, FeedRef, Kind
from services.feeds.render import FORMATS, MEDIA_TYPES, Format
from services.feeds.store import Rendered
from services.feeds.websub import CREDENTIAL
from shared.registry import key_digest

FEED_NAME = re.compile(r"^(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.(?P<fmt>[a-z]+)$")
PAGE_NAME = re.compile(r"^(?P<page>[0-9]{1,9})\.(?P<fmt>[a-z]+)$")
LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
# The paths of the feed document routes below: {root}/{key}/{name} and
# {root}/{key}/{lang}/archive/{name}.
DOCUMENT_PATH = re.compile(
    r"^/(?P<root>feeds|networks|partners)/(?P<key>[^/]+)/"
    r"(?:(?P<lang>[^/]+)/archive/)?(?P<name>[^/]+)$"
)
KINDS: dict[str, Kind] = {"feeds": "publisher", "networks": "network", "partners": "partner"}
VARY = "Accept-Encoding, Authorization, X-Feed-Token"

# The OpenAPI document of the feed routes (what FeedDocuments answers, too).
_CONDITIONAL = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("If-None-Match", "If-Modified-Since")
]
_TEXT = {"schema": {"type": "string"}}
_JSON_FEED = {"schema": {"type": "object", "required": ["version", "title", "items"]}}
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The feed document: Atom, RSS 2.0 or JSON Feed 1.1, by the extension",
        "content": {
            MEDIA_TYPES[fmt].split(";")[0]: _JSON_FEED if fmt == "json" else _TEXT
            for fmt in FORMATS
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


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    titles = {401: "unauthorized", 404: "not found", 410: "gone"}
    return JSONResponse(
        {"error": titles.get(status, "error"), "reason": reason},
        status_code=status,
        headers=headers,
    )


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


class Prepared(Response):
    """A response whose header list was built beforehand."""

    def __init__(self, status: int, headers: list[Header], body: bytes) -> None:
        super().__init__(body, status)
        self.raw_headers = list(headers)  # a copy: middlewares may change it


Answer = tuple[int, list[Header], bytes]


class FeedServer:
    """Finds feed documents (through this replica's cache) and answers for them."""

    def __init__(
        self,
        feeds: FeedPublisher,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feeds = feeds
        self.documents = DocumentCache(cache_seconds, clock)
        self.languages: TTLCache[list[str] | None] = TTLCache(cache_seconds, clock=clock)
        forget_on_write(feeds.store, self.documents)  # this replica's renders: at once

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
        atom = await self.feeds.store.rendered_version(f"{feed.id}.{EAGER}")
        return atom is not None and atom[1] == doc.version

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
        return Prepared(*await self.answer(found, conditions))


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


def install(
    api: FastAPI,
    feeds: FeedPublisher,
    cache_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FeedServer:
    """The feed routes, the directory and entry pages; ``cache_seconds`` defaults to
    ``FEEDS_CACHE_SECONDS``."""
    if cache_seconds is None:
        from services.feeds.settings import FeedsSettings

        cache_seconds = FeedsSettings().cache_seconds
    server = FeedServer(feeds, cache_seconds, clock)
    api.add_middleware(GZipMiddleware, minimum_size=1024)
    api.add_middleware(FeedDocuments, server=server)  # added last: in front of the rest
    registry = feeds.registry
    languages = feeds.feed_languages
    respond = server.respond

    doc = "Formats: .atom, .rss, .json. Archives (RFC 5005) under {lang}/archive/{n}.{fmt}."
    public: dict[str, Any] = {
        "response_class": Response,
        "responses": FEED_RESPONSES,
        "openapi_extra": {"parameters": _CONDITIONAL},
    }
    private: dict[str, Any] = {**public, "responses": PRIVATE_RESPONSES}

    @api.get("/feeds/{publisher}/{name}", summary="A publisher's feed", description=doc, **public)
    async def publisher_feed(publisher: str, name: str, request: Request) -> Response:
        return await respond(request, "publisher", publisher, name)

    @api.get(
        "/feeds/{publisher}/{lang}/archive/{name}", summary="A publisher feed's archive", **public
    )
    async def publisher_archive(publisher: str, lang: str, name: str, request: Request) -> Response:
        return await respond(request, "publisher", publisher, name, lang)

    @api.get("/networks/{network}/{name}", summary="A network's feed", description=doc, **public)
    async def network_feed(network: str, name: str, request: Request) -> Response:
        return await respond(request, "network", network, name)

    @api.get(
        "/networks/{network}/{lang}/archive/{name}", summary="A network feed's archive", **public
    )
    async def network_archive(network: str, lang: str, name: str, request: Request) -> Response:
        return await respond(request, "network", network, name, lang)

    @api.get(
        "/partners/{partner}/{name}",
        summary="A partner's private feed",
        description=doc,
        dependencies=PARTNER_TOKEN,
        **private,
    )
    async def partner_feed(partner: str, name: str, request: Request) -> Response:
        return await respond(request, "partner", partner, name)

    @api.get(
        "/partners/{partner}/{lang}/archive/{name}",
        summary="A partner feed's archive",
        dependencies=PARTNER_TOKEN,
        **private,
    )
    async def partner_archive(partner: str, lang: str, name: str, request: Request) -> Response:
        return await respond(request, "partner", partner, name, lang)

    async def listings() -> list[Listing]:
        out: list[Listing] = []
        for pub in await registry.publishers():
            for lang in await languages("publisher", pub.id) or []:
                feed = FeedRef("publisher", pub.id, lang)
                out.append(
                    Listing(
                        "publisher",
                        pub.id,
                        pub.name,
                        lang,
                        _base(feeds, feed),
                        pub.site,
                        preview=_preview(feeds, feed),
                    )
                )
        for net in await registry.networks():
            for lang in await languages("network", net.id) or []:
                feed = FeedRef("network", net.id, lang)
                out.append(
                    Listing(
                        "network",
                        net.id,
                        net.name,
                        lang,
                        _base(feeds, feed),
                        preview=_preview(feeds, feed),
                    )
                )
        return out

    @api.get("/feeds", summary="Directory of public feeds (HTML)", response_class=HTMLResponse)
    async def directory() -> HTMLResponse:
        page = render_directory(
            "City news feeds",
            await listings(),
            f"{feeds.public_url}/feeds.opml",
            partner_form=f"{feeds.public_url}/preview/partners",
        )
        return HTMLResponse(page, headers={"Cache-Control": "public, max-age=60"})

    @api.get(
        "/feeds.opml",
        summary="Every public feed as OPML",
        response_class=Response,
        responses={200: {"description": "OPML 2.0", "content": {"text/x-opml": _TEXT}}},
    )
    async def opml() -> Response:
        body = render_opml("City news feeds", await listings())
        return Response(
            body,
            media_type="text/x-opml; charset=utf-8",
            headers={"Cache-Control": "public, max-age=60"},
        )

    @api.get(
        "/entries/{article_id}/{lang}",
        summary="One entry as a page (its permalink)",
        response_class=Response,
        responses={
            200: {"description": "The entry as an HTML page", "content": {"text/html": _TEXT}},
            404: {"model": ErrorBody, "description": "No such entry"},
            410: {"model": ErrorBody, "description": "Withdrawn by its publisher"},
        },
    )
    async def entry_page(article_id: str, lang: str) -> Response:
        entry = await published_entry(feeds, article_id, lang)
        if isinstance(entry, Response):
            return entry
        others = (await feeds.store.languages([article_id])).get(article_id, {})
        return HTMLResponse(_entry_html(feeds, entry, others))

    return server


async def published_entry(
    feeds: FeedPublisher, article_id: str, lang: str
) -> dict[str, Any] | Response:
    """An entry partners may see, or the 404 or 410 that says why not."""
    if not LANG.match(lang):
        return error(404, f"no language {lang!r}")
    entry = await feeds.store.entry(article_id, lang)
    if entry is None:
        return error(404, f"no entry {article_id} in {lang!r}")
    if entry["status"] == "withdrawn":
        return error(410, f"{article_id} was withdrawn by its publisher")
    return entry


def _base(feeds: FeedPublisher, feed: FeedRef) -> str:
    return f"{feeds.public_url}{feed.path}"


def _preview(feeds: FeedPublisher, feed: FeedRef) -> str:
    """The partner portal's page for the feed (services/feeds/portal.py)."""
    return f"{feeds.public_url}/preview{feed.path}"


def _entry_html(feeds: FeedPublisher, entry: dict[str, Any], others: dict[str, str]) -> str:
    """The entry's page (services/feeds/templates/entry.html), linking its other languages."""
    lang = entry["language"]
    links = [
        (o, feeds.permalink(entry["article_id"], o))
        for o, status in sorted(others.items())
        if o != lang and status == "active"
    ]
    canonical = feeds.permalink(entry["article_id"], lang)
    return pages.entry_page(entry, canonical, links, f"{feeds.public_url}/feeds")


def private_topics(
    feeds: FeedPublisher,
) -> Callable[[dict[str, str]], Awaitable[tuple[int, str] | None]]:
    """WebSub for private feeds: the subscriber names the partner feed with its token
    (``…/partners/kazan/en.atom?token=…``); the hub then knows it by its canonical URL, which
    is what the feeds service announces updates under, and keeps the token's SHA-256 with the
    subscription (see :func:`subscription_allowed`). Without a valid token: refused. Every
    other topic of ours is known by its canonical URL too (a query string would make it a topic
    no update is ever announced under, and could carry a secret into the hub's logs)."""

    async def prepare(form: dict[str, str]) -> tuple[int, str] | None:
        topic = (form.get("hub.topic") or "").strip()  # as the hub reads it
        parsed = feeds.parse_topic(topic)
        if parsed is None:
            return None
        feed = parsed[0]
        if feed.kind == "partner":
            token = dict(parse_qsl(urlsplit(topic).query)).get("token") or ""
            partner = await feeds.registry.partner_for_token(token) if token else None
            if partner is None or partner.id != feed.key:
                return 403, "a partner feed's topic must carry that partner's valid ?token="
            if not partner.websub:
                return 403, f"WebSub is not enabled for partner {partner.id}"
            form[CREDENTIAL] = key_digest(token)
        form["hub.topic"] = topic.split("?", 1)[0]
        return None

    return prepare


def subscription_allowed(feeds: FeedPublisher) -> Callable[[dict[str, Any]], Awaitable[bool]]:
    """Whether a WebSub subscription may still receive its feed, asked before every delivery:
    always for a public feed; for a partner feed, while the token it was made with is valid
    (not revoked, not expired), belongs to that partner, and the partner has WebSub on."""

    async def allowed(sub: dict[str, Any]) -> bool:
        parsed = feeds.parse_topic(sub["topic"])
        if parsed is None or parsed[0].kind != "partner":
            return True
        digest = sub.get("credential")
        if not isinstance(digest, str):
            return False  # made before subscriptions kept their token: renew to go on
        partner = await feeds.registry.partner_for_digest(digest)
        return partner is not None and partner.id == parsed[0].key and partner.websub

    return allowed
