"""Consumers: source-language articles and translations become feed entries, and the affected
feeds are re-rendered. A translation held for an editor (``provenance.held``) is skipped: it
reaches the feeds when approved, as a later revision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from faststream.kafka.annotations import KafkaMessage

from services.feeds.entries import EntryImage, FeedEntry
from services.feeds.publishing import Feeds
from services.feeds.settings import FeedsSettings
from shared.contracts import (
    ArticleStatus,
    ArticleVersion,
    IngestedArticle,
    Topics,
    TranslatedArticle,
)
from shared.messaging import batch_consumer_options, decode_batch
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


def translated_entries(translations: Sequence[TranslatedArticle], rt: Runtime) -> list[FeedEntry]:
    """The entries of a batch of translations; one held for an editor is left out (an earlier
    version stays as it was)."""
    entries = []
    for t in translations:
        if t.provenance.held and t.status is ArticleStatus.ACTIVE:
            with article_context(article_id=t.article_id, version=t.version, language=t.language):
                rt.log.info("held translation not published")
            continue
        provenance = t.provenance.model_dump(mode="json")
        entries.append(entry(t, t.source_language, t.provenance.translated_at, provenance))
    return entries


def register(rt: Runtime, feeds: Feeds, settings: FeedsSettings) -> None:
    """Both topics in batches (``FEEDS_BATCH_MAX_RECORDS``): a batch is one round of database
    work and one render per feed, however many entries it holds. A record that is not an event
    goes to the dead-letter topic alone; the offsets are committed once the batch is stored."""

    @rt.broker.subscriber(
        Topics.INGESTED,
        title="articles.ingested (feeds)",
        **batch_consumer_options(
            rt.name, rt.settings, settings.batch_max_records, settings.batch_wait_ms
        ),
    )
    async def on_ingested(bodies: list[Any], message: KafkaMessage) -> None:
        articles, bad = decode_batch(message.raw_message, IngestedArticle)
        await feeds.add_many([entry(a, a.language, a.ingested_at, None) for a in articles])
        await rt.dead_letters.send_each(bad)

    @rt.broker.subscriber(
        Topics.TRANSLATED,
        title="articles.translated",
        **batch_consumer_options(
            rt.name,
            rt.settings,
            settings.batch_max_records,
            settings.batch_wait_ms,
            role="translations",
        ),
    )
    async def on_translated(bodies: list[Any], message: KafkaMessage) -> None:
        translations, bad = decode_batch(message.raw_message, TranslatedArticle)
        await feeds.add_many(translated_entries(translations, rt))
        await rt.dead_letters.send_each(bad)
