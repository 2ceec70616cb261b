"""The translate service: ``articles.ingested`` in, ``articles.translated`` out."""

from __future__ import annotations

from fastapi import FastAPI

from services.translate import consumer
from services.translate.engines import engines_from_settings
from services.translate.memory import COLLECTIONS as MEMORY_COLLECTIONS
from services.translate.memory import TranslationMemory
from services.translate.routing import Router
from services.translate.settings import TranslateSettings
from services.translate.store import COLLECTIONS, TranslationStore
from shared.service import asgi_app, build_app, build_runtime


def create(settings: TranslateSettings | None = None) -> FastAPI:
    settings = settings or TranslateSettings()
    rt = build_runtime("translate", settings)
    engines = engines_from_settings(settings)
    if not engines:
        rt.log.warning(consumer.NO_ENGINE)
    for engine in engines:
        rt.log.info("translation engine", extra={"engine": engine.name, "model": engine.model})
    router = Router(engines) if engines else None
    consumer.register(rt, TranslationStore(rt.db), router, TranslationMemory(rt.db))
    stream = build_app(rt, (*COLLECTIONS, *MEMORY_COLLECTIONS))
    return asgi_app(rt, stream, title="City syndication: translate", version="1")
