"""Consumers: source-language articles and translations become feed entries, and the affected
feeds are re-rendered. A translation held for an editor (``provenance.held``) is skipped: it
reaches the feeds when approved, as a later revision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.feeds.entries import EntryImage, FeedEntry
from services.feeds.publishing import Feeds
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
    event: ArticleVersion,
    source_language: str,
    updated: datetime,
    provenance: Mapping[str, Any] | None,
) -> FeedEntry:
    """A feed entry: the version's content plus what only the feeds need (``updated``: when
    this version reached the feeds' sources; ``provenance``: a translation's, as JSON)."""
    return FeedEntry(
        article_id=event.article_id,
        language=event.language,
        version=event.version,
        revision=event.revision if isinstance(event, TranslatedArticle) else 0,
        status=event.status,
        publisher=event.publisher,
        headline=event.headline,
        body_html=event.body_html,
        published=event.published,
        updated=updated,
        source_language=source_language,
        url=event.url,
        subjects=tuple(event.subjects),
        byline=event.byline,
        images=tuple(
            EntryImage(i.url, i.caption, i.credit, i.media_type, i.width, i.height)
            for i in event.images
        ),
        provenance=provenance,
    )


def register(rt: Runtime, feeds: Feeds) -> None:
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
