"""Consumers: source-language articles and translations become feed entries, and the affected
feeds are re-rendered. A translation held for an editor (``provenance.held``) is skipped: it
reaches the feeds when approved, as a later revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.feeds.publishing import FeedPublisher
from shared.contracts import (
    ArticleStatus,
    ArticleVersion,
    IngestedArticle,
    Topics,
    TranslatedArticle,
)
from shared.messaging import consumer_options
from shared.observability import article_context
from shared.service import Runtime


def entry(
    event: ArticleVersion, source_language: str, updated: datetime, provenance: Any
) -> dict[str, Any]:
    """A feed entry document: the version's content plus what only the feeds need."""
    return {
        **event.model_dump(
            exclude={
                "schema_version",
                "body_text",
                "external_id",
                "published_source",
                "content_hash",
                "ingested_at",
                "provenance",
            }
        ),
        "status": event.status.value,
        "source_language": source_language,
        "updated": updated,
        "provenance": provenance,
    }


def register(rt: Runtime, feeds: FeedPublisher) -> None:
    @rt.broker.subscriber(
        Topics.INGESTED,
        title="articles.ingested (feeds)",
        **consumer_options(rt.name, rt.settings),
    )
    async def on_ingested(article: IngestedArticle) -> None:
        with article_context(
            article_id=article.article_id, version=article.version, language=article.language
        ):
            await feeds.add(entry(article, article.language, article.ingested_at, None))

    @rt.broker.subscriber(
        Topics.TRANSLATED,
        title="articles.translated",
        **consumer_options(rt.name, rt.settings, role="translations"),
    )
    async def on_translated(translation: TranslatedArticle) -> None:
        with article_context(
            article_id=translation.article_id,
            version=translation.version,
            language=translation.language,
        ):
            if translation.provenance.held and translation.status is ArticleStatus.ACTIVE:
                # Waiting for an editor: not published, and an earlier version stays as it was.
                rt.log.info("held translation not published")
                return
            await feeds.add(
                entry(
                    translation,
                    translation.source_language,
                    translation.provenance.translated_at,
                    translation.provenance.model_dump(mode="json"),
                )
            )
