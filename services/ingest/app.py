"""The ingest service: ``articles.submitted`` in, clean versioned articles out.

Run with ``python -m services.ingest``; the module-level ``app`` serves ``uvicorn`` too.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from services.ingest import api, consumer, desk
from services.ingest.desk.sessions import SESSIONS
from services.ingest.settings import IngestSettings
from services.ingest.store import COLLECTIONS, ArticleStore
from shared.glossary import GlossaryStore
from shared.registry import EDITOR_KEYS, NETWORKS, PUBLISHERS
from shared.service import asgi_app, build_app, build_runtime


def create(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    rt = build_runtime("ingest", settings)
    store = ArticleStore(rt.db)
    ingest = consumer.register(rt, store, settings)
    stream = build_app(rt, (*COLLECTIONS, SESSIONS, PUBLISHERS, NETWORKS, EDITOR_KEYS))
    tasks: list[asyncio.Task[None]] = []

    @stream.after_startup
    async def _release_embargoes() -> None:
        tasks.append(
            asyncio.create_task(consumer.embargo_loop(ingest, settings.embargo_poll_seconds))
        )

    @stream.on_shutdown
    async def _stop_releasing() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    http = asgi_app(
        rt,
        stream,
        title="City syndication: ingest",
        description=api.DESCRIPTION,
        version="1",
    )
    editors = api.install(http, rt, store, settings, GlossaryStore(rt.db))
    desk.install(http, editors)  # the editor desk's pages at /desk
    return http
