"""The ``articles.submitted`` consumer: validate, store versions, announce them, in batches.

Batches keep the database work per article small (one head read, one version insert and one head
write per batch, whatever the number of submissions for it). Each record is judged on its own:
a bad one goes to the dead-letter topic with its reason and the rest of the batch goes on. Only
an outage fails the batch, which is then retried whole; that is safe because re-applying a
message is recognised by its offset (see :mod:`services.ingest.versions`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from pydantic import ValidationError

from services.ingest.article import Change, Rejected, WithdrawalRequest
from services.ingest.preparing import preparer
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore, VersionClash
from services.ingest.versions import SCOPES_HEADER, Head, apply
from shared.contracts import SUBMISSION, IngestedArticle, Topics, TranslatedArticle, utcnow
from shared.messaging import (
    InvalidMessage,
    consumer_options,
    decode_json,
    describe_validation_error,
    is_outage,
    is_permanent,
    raw_decoder,
)
from shared.observability import article_context
from shared.service import Runtime


def sent_with(record: ConsumerRecord[bytes, bytes]) -> frozenset[str] | None:
    """The scopes of the editor key that sent ``record`` through the HTTP API (which names them
    in a header), or None for a message from a Kafka client: the API's own scope check may have
    run before the article it changes was stored, so :func:`apply` checks them again."""
    for name, value in record.headers or ():
        if name == SCOPES_HEADER:
            return frozenset(s for s in (value or b"").decode("utf-8", "replace").split(",") if s)
    return None


class Ingest:
    def __init__(
        self, rt: Runtime, store: ArticleStore, settings: IngestSettings, out: DefaultPublisher
    ) -> None:
        self.rt = rt
        self.store = store
        self.max_bytes = settings.max_submission_bytes
        self.out = out
        self.preparer = preparer(settings)  # off the event loop, within a time budget

    async def change(self, record: ConsumerRecord[bytes, bytes]) -> Change:
        """What one record asks for; raises InvalidMessage with the reason when it is bad."""
        value = record.value or b""
        if len(value) > self.max_bytes:
            raise InvalidMessage(f"article is {len(value)} bytes; the limit is {self.max_bytes}")
        try:
            submission = SUBMISSION.validate_python(decode_json(value))
        except ValidationError as exc:
            raise InvalidMessage(f"invalid message: {describe_validation_error(exc)}") from None
        publisher = await self.rt.registry.publisher(submission.publisher)
        if publisher is None:
            reason = await self.rt.registry.unknown_publisher_reason(submission.publisher)
            raise InvalidMessage(reason)
        received = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        try:
            return await self.preparer.prepare(submission, publisher, received)
        except Rejected as exc:
            raise InvalidMessage(str(exc)) from None

    async def batch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        bad: list[tuple[ConsumerRecord[bytes, bytes], Exception]] = []
        changes: list[tuple[ConsumerRecord[bytes, bytes], Change]] = []
        # Side by side: each is prepared in a worker process (services.ingest.preparing).
        outcomes = await asyncio.gather(*map(self.change, records), return_exceptions=True)
        for record, outcome in zip(records, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                changes.append((record, outcome))
                continue
            if is_outage(outcome) or not isinstance(outcome, Exception):
                raise outcome
            if not is_permanent(outcome):
                self.rt.log.error("unexpected error; the record goes to the DLQ", exc_info=outcome)
            bad.append((record, outcome))
        try:
            new, announced, refused = await self.store_changes(changes, adopt=False)
        except VersionClash:
            new, announced, refused = await self.store_changes(changes, adopt=True)
        for record, reason in bad + refused:
            await self.rt.dead_letters.send(record, reason, 1)
        if new or bad or refused:
            self.rt.log.info(
                "batch ingested",
                extra={
                    "records": len(records),
                    "new_versions": new,
                    "announced": announced,
                    "dead_lettered": len(bad) + len(refused),
                },
            )

    async def store_changes(
        self, changes: list[tuple[ConsumerRecord[bytes, bytes], Change]], adopt: bool
    ) -> tuple[int, int, list[tuple[ConsumerRecord[bytes, bytes], Exception]]]:
        """Plan the versions, store them, announce what is due, save the heads."""
        withdrawals = [c.article_id for _, c in changes if isinstance(c, WithdrawalRequest)]
        heads = await self.store.heads(
            (c.article_id for _, c in changes), adopt=adopt, events_for=withdrawals
        )
        now = utcnow()
        new: list[tuple[IngestedArticle, datetime | None]] = []
        refused: list[tuple[ConsumerRecord[bytes, bytes], Exception]] = []
        for record, change in changes:
            head = heads[change.article_id]
            try:
                event = apply(
                    head, change, record.partition, record.offset, now, allowed=sent_with(record)
                )
            except Rejected as exc:
                refused.append((record, InvalidMessage(str(exc))))
                continue
            if event is not None:
                new.append((event, head.embargo_until))
        await self.store.insert_versions(new, now)
        # Embargoes before heads: a head that says "held" always has its embargo entry, even
        # after a crash between the two writes.
        await self.store.sync_embargoes(heads.values(), now)
        due = [h for h in heads.values() if h.due(now)]
        await self.announce(due)  # only what is stored: a consumer may read it back at once
        await self.store.save_heads(heads.values())
        return len(new), len(due), refused

    async def announce(self, heads: list[Head]) -> None:
        """Publish the latest version of each head (concurrently: the producer batches them)."""

        async def one(head: Head) -> None:
            await self.store.load_event(head)  # a version stored earlier (held, or adopted)
            assert head.event is not None
            with article_context(article_id=head.article_id, version=head.version):
                await self.out.publish(head.event, key=head.article_id.encode())
                self.rt.log.info(
                    "announced",
                    extra={"publisher": head.event.publisher, "status": head.event.status},
                )
            head.announced_version = head.version
            head.changed = True

        await asyncio.gather(*(one(h) for h in heads))

    async def release_embargoes(self) -> None:
        """Announce the articles whose embargo has ended."""
        now = utcnow()
        for article_id in await self.store.embargoes_due(now):
            head = (await self.store.heads([article_id]))[article_id]
            if head.due(now):
                await self.announce([head])
            await self.store.release(head)


def register(rt: Runtime, store: ArticleStore, settings: IngestSettings) -> Ingest:
    out = rt.broker.publisher(Topics.INGESTED, title="articles.ingested")
    ingest = Ingest(rt, store, settings, out)

    @rt.broker.subscriber(
        Topics.SUBMITTED,
        title="articles.submitted",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_wait_ms,
        decoder=raw_decoder,
        **consumer_options(rt.name, rt.settings),
    )
    async def on_submitted(bodies: list[Any], message: KafkaMessage) -> None:
        await ingest.batch(message.raw_message)

    @rt.broker.subscriber(
        Topics.TRANSLATED,
        title="articles.translated (status per language)",
        **consumer_options(rt.name, rt.settings, role="status"),
    )
    async def on_translated(event: TranslatedArticle) -> None:
        await store.record_translation(event)

    return ingest


async def embargo_loop(ingest: Ingest, every: float) -> None:
    """Release embargoed articles on time; every replica runs it (announcing twice is harmless:
    downstream services ignore a version they already have)."""
    while True:
        try:
            await ingest.release_embargoes()
        except Exception:
            ingest.rt.log.exception("embargo release failed; retrying")
        await asyncio.sleep(every)
