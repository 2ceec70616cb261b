"""The ``articles.submitted`` consumer: validate, store versions, announce them, in batches.

Batches keep the database work per article small: one ``insert_many`` of versions and one of
heads per chunk of a batch (:meth:`Ingest.batch`), whatever the number of submissions, and a head
read only for an article that may exist. Each record is judged on its own: a bad one goes to the
dead-letter topic with its reason and the rest of the batch goes on. Only an outage fails the
batch, which is then retried whole; that is safe because re-applying a message is recognised by
its offset (see :mod:`services.ingest.versions`).

Most submissions are new articles, whose head read would find nothing. So an article this process
has not stored is first planned as new, without a read: its version 1 is inserted like any other,
and if that number is taken (the article exists after all: stored before a restart, or by another
replica; or this is a redelivery) the insert clashes before anything else was written and the
chunk is planned again from the stored heads (:class:`services.ingest.store.VersionClash`), as
after a crash. Heads and versions are never deleted, so "this process stored it" stays true.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from pydantic import TypeAdapter, ValidationError

from services.ingest.article import Change, Rejected, WithdrawalRequest
from services.ingest.preparing import preparer
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore, VersionClash
from services.ingest.versions import SCOPES_HEADER, Head, apply
from shared.contracts import SUBMISSION, IngestedArticle, Topics, TranslatedArticle, utcnow
from shared.messaging import (
    InvalidMessage,
    batch_consumer_options,
    decode_batch,
    decode_json,
    describe_validation_error,
    is_outage,
    is_permanent,
)
from shared.observability import article_context
from shared.service import Runtime

#: Article ids a consumer remembers having stored (an LRU; a forgotten one only costs a clash).
KNOWN_ARTICLES = 100_000
#: Announcements are serialised here, straight to UTF-8 JSON bytes: a quarter of the CPU of
#: ``model_dump_json().encode()`` (no str in between), and 12 KB on the wire for an 8 KB article
#: where FastStream's own ``json.dumps`` (ASCII escapes) made 32 KB.
EVENT_JSON = TypeAdapter(IngestedArticle)
JSON_HEADERS = {"content-type": "application/json"}

#: A record of articles.submitted; what a chunk plans, and what it refuses with the reasons.
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Planned: TypeAlias = list[tuple[Record, Change]]
Failed: TypeAlias = list[tuple[Record, Exception]]


def sent_with(record: Record) -> frozenset[str] | None:
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
        self.chunk_records = settings.batch_chunk_records
        self.out = out
        self.preparer = preparer(settings)  # off the event loop, within a time budget
        self.known: OrderedDict[str, None] = OrderedDict()  # stored by this process

    def remember(self, article_ids: Iterable[str]) -> None:
        """These articles exist now: their heads are read before they are planned."""
        for article_id in article_ids:
            self.known[article_id] = None
            self.known.move_to_end(article_id)
        while len(self.known) > KNOWN_ARTICLES:
            self.known.popitem(last=False)

    async def change(self, record: Record) -> Change:
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

    async def batch(self, records: Sequence[Record]) -> None:
        """Prepare and store the records a chunk at a time, each chunk prepared (CPU here)
        while the one before it is stored (the database's CPU), so neither waits for the other
        most of the time. Chunks are stored one after another, in order: an article's versions
        stay in the order of its records. The offsets are committed after the last chunk."""
        size = self.chunk_records
        counts: Counter[str] = Counter()
        storing: asyncio.Task[Counter[str]] | None = None
        try:
            for start in range(0, len(records), size):
                prepared = await self.prepare_chunk(records[start : start + size])
                if storing is not None:
                    counts += await storing
                storing = asyncio.create_task(self.store_chunk(*prepared))
            if storing is not None:
                counts += await storing
        finally:
            if storing is not None and not storing.done():  # preparing failed: an outage
                storing.cancel()
                await asyncio.gather(storing, return_exceptions=True)
        if counts:
            self.rt.log.info("batch ingested", extra={"records": len(records), **counts})

    async def prepare_chunk(self, records: Sequence[Record]) -> tuple[Planned, Failed]:
        """The changes the records ask for, and the bad records with their reasons; raises on
        an outage (the whole batch is then retried)."""
        bad: Failed = []
        changes: Planned = []
        # Side by side: large ones are prepared in worker processes (services.ingest.preparing).
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
        return changes, bad

    async def store_chunk(self, changes: Planned, bad: Failed) -> Counter[str]:
        """Store and announce one chunk's changes, then dead-letter its bad records."""
        try:
            new, announced, refused = await self.store_changes(changes, adopt=False)
        except VersionClash:
            new, announced, refused = await self.store_changes(changes, adopt=True)
        for record, reason in bad + refused:
            await self.rt.dead_letters.send(record, reason, 1)
        return Counter(new_versions=new, announced=announced, dead_lettered=len(bad) + len(refused))

    async def store_changes(self, changes: Planned, adopt: bool) -> tuple[int, int, Failed]:
        """Plan the versions, store them, announce what is due, save the heads. Unless
        ``adopt``, articles this process has not stored are planned as new without a read (see
        the module docstring); ``adopt`` reads every head, and adopts interrupted versions."""
        withdrawals = [c.article_id for _, c in changes if isinstance(c, WithdrawalRequest)]
        ids = {c.article_id for _, c in changes}
        read = ids if adopt else {i for i in ids if i in self.known}.union(withdrawals)
        heads = await self.store.heads(read, adopt=adopt, events_for=withdrawals)
        heads.update((i, Head(i)) for i in ids - read)
        now = utcnow()
        new: list[tuple[IngestedArticle, datetime | None]] = []
        refused: Failed = []
        for record, change in changes:
            head = heads[change.article_id]
            try:
                event = apply(
                    head, change, record.partition, record.offset, now, allowed=sent_with(record)
                )
            except Rejected as exc:
                if change.article_id not in read:  # judged as new: the stored head decides
                    raise VersionClash(f"{change.article_id} refused as a new article") from exc
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
        self.remember(i for i, h in heads.items() if h.version)
        return len(new), len(due), refused

    async def announce(self, heads: list[Head]) -> None:
        """Publish the latest version of each head (concurrently: the producer batches them)."""

        async def one(head: Head) -> None:
            await self.store.load_event(head)  # a version stored earlier (held, or adopted)
            assert head.event is not None
            body = EVENT_JSON.dump_json(head.event)  # compact UTF-8 bytes, in pydantic's core
            with article_context(article_id=head.article_id, version=head.version):
                await self.out.publish(body, key=head.article_id.encode(), headers=JSON_HEADERS)
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
        **batch_consumer_options(
            rt.name, rt.settings, settings.batch_max_records, settings.batch_wait_ms
        ),
    )
    async def on_submitted(bodies: list[Any], message: KafkaMessage) -> None:
        await ingest.batch(message.raw_message)

    @rt.broker.subscriber(
        Topics.TRANSLATED,
        title="articles.translated (status per language)",
        **batch_consumer_options(
            rt.name,
            rt.settings,
            settings.batch_max_records,
            settings.batch_wait_ms,
            role="status",
        ),
    )
    async def on_translated(bodies: list[Any], message: KafkaMessage) -> None:
        events, bad = decode_batch(message.raw_message, TranslatedArticle)
        await store.record_translations(events)
        await rt.dead_letters.send_each(bad)

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
