"""The ``articles.ingested`` consumer: translate each article into every language subscribed to
its publisher, and announce each translation on ``articles.translated``."""

from __future__ import annotations

from services.translate.memory import TranslationMemory
from services.translate.routing import Router
from services.translate.segment import article_segments, assemble
from services.translate.store import Status, TranslationStore
from shared.contracts import (
    ArticleStatus,
    IngestedArticle,
    Provenance,
    Topics,
    TranslatedArticle,
    utcnow,
)
from shared.messaging import consumer_options
from shared.observability import article_context
from shared.service import Runtime
from shared.storage import Document

NO_ENGINE = (
    "no translation engine configured: set TRANSLATE_ENGINE (see the README, 'Translation'); "
    "the source-language feed is published meanwhile"
)


async def translate(
    router: Router,
    article: IngestedArticle,
    target: str,
    memory: TranslationMemory | None = None,
) -> TranslatedArticle:
    """Translate one article; with a ``memory``, only segments it has not seen are sent."""
    segments = article_segments(article.headline, article.body_text)
    if memory is None:
        routed = await router.translate(segments, article.language, target)
    else:
        routed = await memory.translate(router, segments, article.language, target)
    headline, body_html = assemble(routed.texts)
    return TranslatedArticle(
        article_id=article.article_id,
        version=article.version,
        status=article.status,
        publisher=article.publisher,
        source_language=article.language,
        language=target,
        headline=headline,
        body_html=body_html,
        url=article.url,
        subjects=article.subjects,
        byline=article.byline,
        published=article.published,
        provenance=Provenance(
            engine=routed.engine,
            model=routed.model,
            model_version=routed.model_version,
            pivot=routed.pivot,
            translated_at=utcnow(),
        ),
    )


def register(
    rt: Runtime,
    store: TranslationStore,
    engine: Router | None,
    memory: TranslationMemory | None = None,
) -> None:
    publish = rt.broker.publisher(Topics.TRANSLATED, title="articles.translated")

    async def withdraw(stored: Document | None, article: IngestedArticle) -> None:
        """Take a published translation down with its source; nothing to do if none was."""
        if not stored or not stored.get("event"):
            return
        if (
            stored["version"] == article.version
            and stored.get("announced_version", 0) >= article.version
        ):
            return  # redelivery: done already
        event = TranslatedArticle.model_validate(stored["event"]).model_copy(
            update={"version": article.version, "status": ArticleStatus.WITHDRAWN}
        )
        await store.save(event)
        await publish.publish(event, key=event.article_id.encode())
        await store.mark_announced(event)
        rt.log.info("translation withdrawn")

    @rt.broker.subscriber(
        Topics.INGESTED, title="articles.ingested", **consumer_options(rt.name, rt.settings)
    )
    async def on_ingested(article: IngestedArticle) -> None:
        targets = await rt.registry.target_languages(article.publisher)
        for target in targets:
            with article_context(
                article_id=article.article_id, version=article.version, language=target
            ):
                stored = await store.get(article.article_id, target)
                if stored and stored["version"] > article.version:
                    continue  # a later version is already handled
                if article.status is ArticleStatus.WITHDRAWN:
                    await withdraw(stored, article)
                    continue
                if engine is None:
                    await store.mark_pending(article.article_id, target, article.version, NO_ENGINE)
                    rt.log.warning("translation pending: no engine configured")
                    continue
                if not engine.supports(article.language, target):
                    reason = str(engine.no_route(article.language, target))
                    await store.mark_pending(article.article_id, target, article.version, reason)
                    rt.log.warning("translation pending: no route", extra={"reason": reason})
                    continue  # the other languages go on
                if (
                    stored
                    and stored["version"] == article.version
                    and stored["status"] == Status.TRANSLATED
                ):
                    if stored.get("announced_version", 0) >= article.version:
                        continue  # redelivery: done already
                    event = TranslatedArticle.model_validate(stored["event"])
                else:
                    event = await translate(engine, article, target, memory)
                    await store.save(event)
                await publish.publish(event, key=event.article_id.encode())
                await store.mark_announced(event)
                rt.log.info("translated", extra={"engine": event.provenance.engine})
