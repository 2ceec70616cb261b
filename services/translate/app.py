"""The translate service: ``articles.ingested`` in, ``articles.translated`` out."""

from __future__ import annotations

from fastapi import FastAPI

from services.translate import consumer
from services.translate.engines import engines_from_settings
from services.translate.memory import COLLECTIONS as MEMORY_COLLECTIONS
from services.translate.memory import TranslationMemory
from services.translate.pipeline import BatchTranslator
from services.translate.routing import Router
from services.translate.settings import TranslateSettings
from services.translate.store import COLLECTIONS, TranslationStore
from shared.glossary import COLLECTIONS as GLOSSARY_COLLECTIONS
from shared.glossary import GlossaryStore
from shared.service import asgi_app, build_app, build_runtime


def create(settings: TranslateSettings | None = None) -> FastAPI:
    settings = settings or TranslateSettings()
    rt = build_runtime("translate", settings)
    engines = engines_from_settings(settings)
    if not engines:
        rt.log.warning(consumer.NO_ENGINE)
    for engine in engines:
        rt.log.info("translation engine", extra={"engine": engine.name, "model": engine.model})
    translator = (
        BatchTranslator(
            Router(engines),
            TranslationMemory(rt.db),
            batch_tokens=settings.batch_tokens,
            attempts=settings.engine_attempts,
            backoff_seconds=settings.engine_backoff_seconds,
            glossary_mode=settings.glossary_mode,
        )
        if engines
        else None
    )
    glossaries = GlossaryStore(rt.db, ttl=settings.glossary_ttl_seconds)
    consumer.register(rt, TranslationStore(rt.db), translator, glossaries, settings)
    stream = build_app(rt, (*COLLECTIONS, *MEMORY_COLLECTIONS, *GLOSSARY_COLLECTIONS))
    return asgi_app(rt, stream, title="City syndication: translate", version="1")
