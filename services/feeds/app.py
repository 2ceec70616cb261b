"""The feeds service: articles and translations in, Atom and RSS feeds out over HTTP."""

from __future__ import annotations

from fastapi import FastAPI

from services.feeds import consumer, http
from services.feeds.publishing import FeedPublisher
from services.feeds.settings import FeedsSettings
from services.feeds.store import COLLECTIONS, FeedStore
from shared.service import asgi_app, build_app, build_runtime


def create(settings: FeedsSettings | None = None) -> FastAPI:
    settings = settings or FeedsSettings()
    rt = build_runtime("feeds", settings)
    feeds = FeedPublisher(
        FeedStore(rt.db), rt.registry, settings.public_url, settings.entries_per_feed
    )
    consumer.register(rt, feeds)
    stream = build_app(rt, COLLECTIONS)
    api = asgi_app(rt, stream, title="City syndication: feeds", version="1")
    http.install(api, feeds)
    return api
