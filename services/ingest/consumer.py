"""The ``articles.submitted`` consumer: validate, store a version, announce it."""

from __future__ import annotations

from datetime import UTC, datetime

from faststream.kafka.annotations import KafkaMessage

from services.ingest.article import prepare
from services.ingest.store import ArticleStore
from shared.contracts import SubmittedArticle, Topics
from shared.messaging import InvalidMessage, consumer_options
from shared.observability import article_context
from shared.service import Runtime


def register(rt: Runtime, store: ArticleStore, max_bytes: int) -> None:
    publish = rt.broker.publisher(Topics.INGESTED, title="articles.ingested")

    @rt.broker.subscriber(
        Topics.SUBMITTED, title="articles.submitted", **consumer_options(rt.name, rt.settings)
    )
    async def on_submitted(submission: SubmittedArticle, message: KafkaMessage) -> None:
        record = message.raw_message
        size = len(record.value or b"")  # type: ignore[union-attr]
        if size > max_bytes:
            raise InvalidMessage(f"article is {size} bytes; the limit is {max_bytes} bytes")
        publisher = await rt.registry.publisher(submission.publisher)
        if publisher is None:
            raise InvalidMessage(await rt.registry.unknown_publisher_reason(submission.publisher))
        received = datetime.fromtimestamp(record.timestamp / 1000, UTC)  # type: ignore[union-attr]
        try:
            prepared = prepare(submission, publisher, received)
        except ValueError as exc:
            raise InvalidMessage(str(exc)) from None
        with article_context(article_id=prepared.article_id):
            event = await store.record(prepared)
            with article_context(version=event.version):
                if await store.needs_announcing(event):
                    await publish.publish(event, key=event.article_id.encode())
                    await store.mark_announced(event)
                    rt.log.info("ingested", extra={"publisher": event.publisher})
                else:
                    rt.log.info("unchanged; nothing to announce")
