"""Consumers: source-language articles and translations become feed entries, and the affected
feeds are re-rendered."""

from __future__ import annotations

from typing import Any

from services.feeds.publishing import FeedPublisher
from shared.contracts import IngestedArticle, Topics, TranslatedArticle
from shared.messaging import consumer_options
from shared.observability import article_context
from shared.service import Runtime


def entry_from_ingested(a: IngestedArticle) -> dict[str, Any]:
    return {
        "article_id": a.article_id,
        "language": a.language,
        "version": a.version,
        "status": a.status.value,
        "publisher": a.publisher,
        "source_language": a.language,
        "headline": a.headline,
        "body_html": a.body_html,
        "url": a.url,
        "byline": a.byline,
        "subjects": a.subjects,
        "published": a.published,
        "updated": a.ingested_at,
        "provenance": None,
    }


def entry_from_translated(t: TranslatedArticle) -> dict[str, Any]:
    return {
        "article_id": t.article_id,
        "language": t.language,
        "version": t.version,
        "status": t.status.value,
        "publisher": t.publisher,
        "source_language": t.source_language,
        "headline": t.headline,
        "body_html": t.body_html,
        "url": t.url,
        "byline": t.byline,
        "subjects": t.subjects,
        "published": t.published,
        "updated": t.provenance.translated_at,
        "provenance": t.provenance.model_dump(mode="json"),
    }


def register(rt: Runtime, feeds: FeedPublisher) -> None:
    options = consumer_options(rt.name, rt.settings)

    @rt.broker.subscriber(Topics.INGESTED, title="articles.ingested (feeds)", **options)
    async def on_ingested(article: IngestedArticle) -> None:
        with article_context(
            article_id=article.article_id, version=article.version, language=article.language
        ):
            await feeds.add(entry_from_ingested(article))

    @rt.broker.subscriber(Topics.TRANSLATED, title="articles.translated", **options)
    async def on_translated(translation: TranslatedArticle) -> None:
        with article_context(
            article_id=translation.article_id,
            version=translation.version,
            language=translation.language,
        ):
            await feeds.add(entry_from_translated(translation))
