"""The feeds service's front door: GET and HEAD of a feed document answered before anything
else of the app runs (FastAPI, Starlette's error middleware, the app's middlewares, routing).

Feed polls are nearly all of the service's traffic, and each asks for a document this replica
already holds in memory (:mod:`services.feeds.cache`). ``shared.service.serve`` puts
:class:`FeedFastPath` in front of the app (``api.state.asgi_front``), under the rate limit
only. A request whose path it has answered before, while the document and the feed's
languages are still within their TTL, costs a dict lookup, a scan of the request headers and
two sends; the first request for a path, and any after the TTL, asks the
:class:`~services.feeds.http.server.FeedServer` as the app would (the same cache, loads and
revalidation). Anything else goes on to the app untouched: other paths and methods, a request
with a ``traceparent`` (so that it is traced), and every refusal (unknown feed, language or
format, a partner's missing token), which the app answers as it always has. Partner feeds check
their token at every request, here as in the app.

Only here is brotli offered, and ``Accept-Encoding`` read with its q-values
(:func:`services.feeds.cache.negotiate`); behind it, the app's ``FeedDocuments`` and routes still
choose gzip by the word alone. A traced request asking for brotli therefore gets gzip: a correct
answer (every variant has the same ETag, and ``Vary: Accept-Encoding``), only a larger one.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from services.feeds.cache import Document, Header, negotiate
from services.feeds.http.server import (
    DOCUMENT_PATH,
    FEED_NAME,
    KINDS,
    PAGE_NAME,
    Conditions,
    FeedServer,
    not_modified,
)
from services.feeds.publishing import Kind

Answer = tuple[int, list[Header], bytes]
HOT_PATHS = 4096  # paths remembered at most; past that the table starts again


async def answer(
    doc: Document, if_none_match: str | None, if_modified_since: str | None, accept: str | None
) -> Answer:
    """Status, headers and body for a request's validators and ``Accept-Encoding``."""
    if (if_none_match is not None or if_modified_since) and not_modified(
        Conditions(if_none_match, if_modified_since), doc
    ):
        return 304, doc.headers, b""
    coding = negotiate(accept)
    made = doc.variants.get(coding)
    if made is not None:
        return 200, made[0], made[1]
    headers, body = await doc.encoded(coding)
    return 200, headers, body


@dataclass(frozen=True, slots=True)
class _Hot:
    """Where a path's document and its feed's languages are cached (their cache keys)."""

    document: str
    languages: str
    language: str


class FeedFastPath:
    """ASGI middleware in front of the whole app (see the module docstring)."""

    def __init__(self, app: ASGIApp, server: FeedServer) -> None:
        self.app = app
        self.server = server
        self.hot: dict[str, _Hot] = {}  # path: where its document is cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        inm = ims = accept = None
        for name, value in scope["headers"]:  # the first of a repeated header, as Starlette
            if name == b"if-none-match":
                inm = inm if inm is not None else value.decode("latin-1")
            elif name == b"if-modified-since":
                ims = ims if ims is not None else value.decode("latin-1")
            elif name == b"accept-encoding":
                accept = accept if accept is not None else value.decode("latin-1")
            elif name == b"traceparent":
                await self.app(scope, receive, send)  # traced: through the routes
                return
        path: str = scope["path"]
        hot = self.hot.get(path)
        doc = self._current(hot) if hot is not None else None
        if doc is None:
            doc = await self._find(scope, path)
            if doc is None:
                await self.app(scope, receive, send)
                return
        status, headers, body = await answer(doc, inm, ims, accept)
        # a copy of the cached list: the server (or a test) may keep what it is given
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def _current(self, hot: _Hot) -> Document | None:
        """The path's document, if it and its feed's languages are still within their TTL."""
        languages = self.server.languages.peek(hot.languages)
        if languages is None or languages[0] is None or hot.language not in languages[0]:
            return None
        found = self.server.documents.peek(hot.document)
        return found[0] if found is not None else None

    async def _find(self, scope: Scope, path: str) -> Document | None:
        """The document at ``path`` through the server, as the app would find it; None for
        anything the app should answer (not a feed document, a refusal)."""
        match = DOCUMENT_PATH.match(path)
        if match is None:
            return None
        kind = KINDS[match["root"]]
        token = _token(scope) if kind == "partner" else None
        try:
            found = await self.server.find(kind, match["key"], match["name"], match["lang"], token)
        except Exception:  # the database is down, say: the app answers, and logs, as it always has
            return None
        if not isinstance(found, Document):
            return None
        if kind != "partner":  # a partner's token is judged at every request
            self._remember(path, kind, match["key"], match["name"], match["lang"])
        return found

    def _remember(self, path: str, kind: Kind, key: str, name: str, lang: str | None) -> None:
        """Keep where ``path`` is cached, as :meth:`FeedServer.find` keys it; a path whose keys
        this does not find in the caches is simply not remembered (always asked for)."""
        if lang is None:
            named = FEED_NAME.match(name)
            if named is None:
                return
            lang = named["lang"]
            document = f"{kind}/{key}/{lang}.{named['fmt']}"
        else:
            paged = PAGE_NAME.match(name)
            if paged is None:
                return
            document = f"{kind}/{key}/{lang}#{int(paged['page'])}.{paged['fmt']}"
        hot = _Hot(document, f"{kind}/{key}", lang)
        if self._current(hot) is None:
            return
        if len(self.hot) >= HOT_PATHS:
            self.hot.clear()
        self.hot[path] = hot


def _token(scope: Scope) -> str | None:
    """A partner's feed token, read from the scope as the app reads it."""
    conditions = Conditions.of_scope(scope, with_token=True)
    return conditions.token if conditions is not None else None
