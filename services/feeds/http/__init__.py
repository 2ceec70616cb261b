"""Feeds over HTTP: stored bytes with ETag / Last-Modified, 304s, gzip, and WebSub links.

URL scheme (``{fmt}`` is ``atom``, ``rss`` or ``json``):

* ``/feeds/{publisher}/{lang}.{fmt}``: a publisher's feed in one language;
* ``/networks/{network}/{lang}.{fmt}``: a network's feed, all its members;
* ``/partners/{partner}/{lang}.{fmt}``: a partner city's private feed (token in
  ``Authorization: Bearer``, ``X-Feed-Token`` or ``?token=``);
* ``{feed}/archive/{n}.{fmt}``: RFC 5005 archive pages of any of the above, oldest is 0;
* ``/feeds`` (HTML) and ``/feeds.opml``: the directory of public feeds;
* ``/entries/{article}/{lang}``: one entry as a page (the entries' permalinks), and
  ``/entries/{article}/{lang}.json``: what the feeds carry of it (the editor desk shows it).

The hot path is :mod:`.server` (:class:`FeedServer`, answering feed documents from this
replica's memory, also in front of the app as the ASGI middleware :class:`FeedDocuments`); the
routes are :mod:`.documents` (feeds and archives), :mod:`.listings` (directory, OPML) and
:mod:`.permalinks` (entries); :mod:`.subscriptions` is WebSub's access to private feeds.
Every ``GET`` route of the app also answers ``HEAD`` (:mod:`.head`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from services.feeds.http import documents, listings, ninjs, permalinks
from services.feeds.http.head import HeadAsGet
from services.feeds.http.server import FeedDocuments, FeedServer, partner_token
from services.feeds.http.subscriptions import private_topics, subscription_allowed
from services.feeds.publishing import Feeds

__all__ = ["FeedServer", "install", "partner_token", "private_topics", "subscription_allowed"]


def install(
    api: FastAPI,
    feeds: Feeds,
    cache_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FeedServer:
    """The feed routes, the directory and entry pages; ``cache_seconds`` defaults to
    ``FEEDS_CACHE_SECONDS``."""
    if cache_seconds is None:
        from services.feeds.settings import FeedsSettings

        cache_seconds = FeedsSettings().cache_seconds
    server = FeedServer(feeds, cache_seconds, clock)
    api.state.feed_server = server  # the routes' declared dependency (server.Server)
    api.add_middleware(GZipMiddleware, minimum_size=1024)
    api.add_middleware(FeedDocuments, server=server)  # in front of the rest
    api.add_middleware(HeadAsGet)  # added last: HEAD is a GET for all the above
    # The entries first: /entries/{id}/{lang}.json ahead of /entries/{id}/{lang}.
    api.include_router(ninjs.router)  # ahead of those too: their {lang} or {name} takes en.ninjs
    for routes in (permalinks, documents, listings):
        api.include_router(routes.router)
    return server
