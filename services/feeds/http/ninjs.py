"""ninjs 3.1 out, for partner CMSs that import structured news rather than feeds: one entry
(``/entries/{article}/{lang}.ninjs``) and the entries of a feed
(``/feeds/{publisher}/{lang}.ninjs``, ``/networks/…``, ``/partners/…`` with the partner's token),
built by :mod:`services.feeds.ninjs_out`. ``/entries/{article}/{lang}.json`` stays the
platform's own JSON (the editor desk reads it): the ninjs form has a suffix of its own.

A feed's ninjs covers what its subscription document covers (the last one or two log pages, each
entry once, at its newest version, a withdrawn one ``canceled``), and is cached in memory with
the feed's Atom document (under its ETag): never older than the Atom this replica serves. Both
answer with ``ETag`` and ``Last-Modified``, 304 to a matching ``If-None-Match`` or
``If-Modified-Since``, gzip when asked, and HEAD like GET without the body (as every GET of the
app: :mod:`services.feeds.http.head`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from services.feeds.cache import Document
from services.feeds.entries import FeedEntry
from services.feeds.http.documents import PARTNER_TOKEN
from services.feeds.http.permalinks import LANG
from services.feeds.http.server import VARY, Conditions, FeedServer, PrebuiltResponse, Server
from services.feeds.ninjs_out import MEDIA_TYPE, entry_json, feed_json
from services.feeds.publishing import EAGER, FeedRef, Kind
from services.feeds.render import EPOCH
from services.feeds.web import ErrorBody, error

_NINJS = {"schema": {"type": "object", "required": ["uri"]}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "IPTC ninjs 3.1 (a feed: a JSON array of ninjs 3.1 documents)",
        "content": {"application/json": _NINJS},
    },
    304: {"description": "Not modified since the If-None-Match or If-Modified-Since given"},
    404: {"model": ErrorBody, "description": "No such entry, feed or language"},
}
PRIVATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    401: {"model": ErrorBody, "description": "No token, or not a valid token of this partner"},
}
PUBLIC: dict[str, Any] = {"response_class": Response, "responses": RESPONSES}
PRIVATE: dict[str, Any] = {**PUBLIC, "responses": PRIVATE_RESPONSES, "dependencies": PARTNER_TOKEN}
FEED_DOC = (
    "The entries of the feed's subscription document, newest first, as a JSON array of ninjs "
    "3.1 documents; a withdrawn entry is a `canceled` document."
)

router = APIRouter()


@router.get(
    "/entries/{article_id}/{lang}.ninjs",
    summary="One entry as IPTC ninjs 3.1 (canceled once withdrawn)",
    **PUBLIC,
)
async def entry_ninjs(article_id: str, lang: str, request: Request, server: Server) -> Response:
    if not LANG.match(lang):
        return error(404, f"no language {lang!r}")
    stored = await server.feeds.store.stored(article_id, lang)
    if stored is None:
        return error(404, f"no entry {article_id} in {lang!r}")
    entry = stored.entry
    body = entry_json(entry, server.feeds.permalink)
    self_url = f"{server.feeds.permalink(article_id, lang)}.ninjs"
    return await answer(
        server, request, document(body, entry.updated, "public, max-age=60", self_url)
    )


@router.get(
    "/feeds/{publisher}/{lang}.ninjs",
    summary="A publisher's feed as ninjs",
    description=FEED_DOC,
    **PUBLIC,
)
async def publisher_ninjs(publisher: str, lang: str, request: Request, server: Server) -> Response:
    return await feed_ninjs(request, server, "publisher", publisher, lang)


@router.get(
    "/networks/{network}/{lang}.ninjs",
    summary="A network's feed as ninjs",
    description=FEED_DOC,
    **PUBLIC,
)
async def network_ninjs(network: str, lang: str, request: Request, server: Server) -> Response:
    return await feed_ninjs(request, server, "network", network, lang)


@router.get(
    "/partners/{partner}/{lang}.ninjs",
    summary="A partner's private feed as ninjs",
    description=FEED_DOC,
    **PRIVATE,
)
async def partner_ninjs(partner: str, lang: str, request: Request, server: Server) -> Response:
    return await feed_ninjs(request, server, "partner", partner, lang)


async def feed_ninjs(
    request: Request, server: FeedServer, kind: Kind, key: str, lang: str
) -> Response:
    """A feed's ninjs, as fresh as the feed's Atom document this replica serves: the Atom
    document is found first (which judges the feed, its language and a partner's token, and is
    cached and forgotten on a render as the feed documents are), and the ninjs is cached under
    its ETag, so a new Atom render means a new ninjs at once."""
    atom = await server.find(kind, key, f"{lang}.{EAGER}", None, Conditions.of(request).token)
    if isinstance(atom, Response):
        return atom
    feed = FeedRef(kind, key, lang)
    found = await server.documents.get(
        f"{feed.id}.ninjs {atom.etag}", lambda: feed_document(server, feed)
    )
    if found is None:  # feed_document always makes one
        raise RuntimeError(f"no ninjs document of {feed.id}")
    return await answer(server, request, found)


async def feed_document(server: FeedServer, feed: FeedRef) -> Document:
    """The entries of the last one or two log pages (as the subscription document), each at
    its newest version (the log may be ahead of the Atom render: never behind it)."""
    store = server.feeds.store
    seq = await store.head(feed.id)
    last = store.page_of(seq) if seq else 0
    latest: dict[str, FeedEntry] = {}
    for item in await store.page_items(feed.id, [last - 1, last], seq):  # newest first
        latest.setdefault(item.key, item)
    entries = sorted(latest.values(), key=lambda e: (e.published, e.article_id), reverse=True)
    body = feed_json(entries, server.feeds.permalink)
    updated = max((e.updated for e in entries), default=EPOCH)
    scope = "private" if feed.kind == "partner" else "public"
    return document(body, updated, f"{scope}, max-age=60", server.feeds.url(feed, "ninjs"))


def document(body: bytes, updated: datetime, cache_control: str, self_url: str) -> Document:
    """A ninjs answer with its validators, as the feed documents have them."""
    moment = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    last_modified = format_datetime(moment.astimezone(UTC), usegmt=True)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "etag": etag,
        "last-modified": last_modified,
        "cache-control": cache_control,
        "link": f'<{self_url}>; rel="self"',
        "vary": VARY,
    }
    return Document(
        body=body,
        media_type=MEDIA_TYPE,
        etag=etag,
        last_modified=parsedate_to_datetime(last_modified),
        headers=[(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
    )


async def answer(server: FeedServer, request: Request, doc: Document) -> Response:
    """200 (gzip when asked), or 304; HEAD: the same headers without the body."""
    status, headers, body = await server.answer(doc, Conditions.of(request))
    return PrebuiltResponse(status, headers, b"" if request.method == "HEAD" else body)
