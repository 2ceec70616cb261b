"""The ingest service: ``articles.submitted`` in, clean versioned articles out.

Run with ``python -m services.ingest``; the module-level ``app`` serves ``uvicorn`` too.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest import api, consumer
from services.ingest.settings import IngestSettings
from services.ingest.store import COLLECTIONS, ArticleStore
from shared.registry import NETWORKS, PUBLISHERS
from shared.service import asgi_app, build_app, build_runtime


def create(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    rt = build_runtime("ingest", settings)
    store = ArticleStore(rt.db)
    consumer.register(rt, store, settings.max_submission_bytes)
    stream = build_app(rt, (*COLLECTIONS, PUBLISHERS, NETWORKS))
    http = asgi_app(
        rt,
        stream,
        title="City syndication: ingest",
        description="Submit Persian news articles for translation and syndication.",
        version="1",
    )
    api.install(http, rt, store, settings.max_submission_bytes)
    return http
