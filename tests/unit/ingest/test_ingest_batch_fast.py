"""Ingest's batch planning through FastStream's in-memory broker: which records become versions,
which are announced, which go to the dead-letter topic and why. Fast: no Kafka, no database (the
real ``ArticleStore`` on an in-memory stand-in); ``tests/integration/test_ingest.py`` and
``test_pipeline.py`` cover the same paths on the real stack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.ingest import consumer
from services.ingest.preparing import Preparer
from services.ingest.settings import IngestSettings
from services.ingest.store import ARTICLES, VERSIONS, ArticleStore
from services.ingest.versions import SCOPES_HEADER
from shared.contracts import DeadLetter, Provenance, Topics, TranslatedArticle
from tests.support.fast_broker import (
    KafkaLog,
    Watched,
    number_offsets,
    register_publishers,
    runtime,
    watch_topics,
)
from tests.support.memory_db import MemoryDatabase

MASHHAD = {"_id": "mashhad", "name": "Mashhad", "language": "fa", "translate_to": ["en"]}
MAX_BYTES = 4096


@dataclass
class Ingest:
    broker: KafkaBroker  # patched by TestKafkaBroker: delivers in memory
    db: MemoryDatabase
    watched: Watched
    log: KafkaLog
    consumer: consumer.Ingest

    async def submit(self, *bodies: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """One batch, as the consumer would fetch it from ``articles.submitted``."""
        await self.broker.publish_batch(*bodies, topic=Topics.SUBMITTED, headers=headers)

    def versions(self) -> list[tuple[str, int]]:
        docs = self.db[VERSIONS.name].docs.values()
        return sorted((d["article_id"], d["version"]) for d in docs)

    def announced(self) -> list[tuple[str, int, str]]:
        return [(e["article_id"], e["version"], e["headline"]) for e in self.watched.events]


@pytest.fixture
async def ingest(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[Ingest]:
    """The consumer on its own settings, with ``IngestSettings`` overrides as the param."""
    log = number_offsets(monkeypatch)
    # No worker processes: these short clean articles are prepared on the event loop anyway.
    monkeypatch.setattr(
        consumer, "preparer", lambda s: Preparer(s.prepare_workers, s.prepare_budget_seconds)
    )
    settings = IngestSettings(max_submission_bytes=MAX_BYTES, **getattr(request, "param", {}))
    db = MemoryDatabase()
    register_publishers(db, MASHHAD)
    rt = runtime("ingest", settings, db)
    ingest = consumer.register(rt, ArticleStore(db), settings)  # type: ignore[arg-type]
    watched = watch_topics(rt.broker, Topics.INGESTED, Topics.SUBMITTED)

    @rt.broker.subscriber(Topics.dlq(Topics.TRANSLATED), group_id="test-watch")
    async def on_status_letter(letter: DeadLetter) -> None:  # the status consumer's
        watched.dead_letters.append(letter)

    async with TestKafkaBroker(rt.broker) as br:
        yield Ingest(br, db, watched, log, ingest)


def article(external_id: str = "1314415", **overrides: Any) -> dict[str, Any]:
    return {
        "publisher": "mashhad",
        "headline": "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد",
        "body_text": "پایگاه اینترنتی جهانشهر به چهار زبان رونمایی شد.",
        "external_id": external_id,
        "published": "2024-12-30T09:30:00+03:30",
        **overrides,
    }


async def test_good_records_become_versions_and_bad_ones_go_to_the_dlq_with_the_reason(
    ingest: Ingest,
) -> None:
    await ingest.submit(
        article("a-1"),
        {"publisher": "mashhad"},  # no headline
        article("a-2", publisher="nowhere"),
        article("a-3", body_text="x" * MAX_BYTES),
        article("a-4"),
    )
    assert [(v, h) for _, v, h in ingest.announced()] == [(1, article()["headline"])] * 2
    assert len(ingest.versions()) == 2
    reasons = ingest.watched.reasons()
    assert len(reasons) == 3
    assert reasons[0].startswith("invalid message:") and "headline" in reasons[0]
    assert reasons[1] == "unknown publisher 'nowhere'; registered publishers: mashhad"
    assert reasons[2].startswith("article is ") and f"the limit is {MAX_BYTES}" in reasons[2]
    letters = ingest.watched.dead_letters
    assert {d.topic for d in letters} == {Topics.SUBMITTED}
    assert [d.offset for d in letters] == [1, 2, 3]  # each names its own record
    assert all(d.service == "ingest" and d.attempts == 1 for d in letters)


async def test_versions_in_one_batch_are_all_stored_and_only_the_latest_announced(
    ingest: Ingest,
) -> None:
    await ingest.submit(
        article(headline="یک"), article(headline="دو"), article(headline="دو"), article()
    )
    (article_id, _, _), *_ = ingest.announced()
    assert ingest.versions() == [(article_id, 1), (article_id, 2), (article_id, 3)]
    assert ingest.announced() == [(article_id, 3, article()["headline"])]  # "دو" twice: one
    assert ingest.watched.dead_letters == []


async def test_a_double_submit_is_nothing_and_a_correction_is_the_next_version(
    ingest: Ingest,
) -> None:
    await ingest.submit(article())
    await ingest.submit(article())
    assert len(ingest.announced()) == 1
    await ingest.submit(article(headline="اصلاح شد"))
    article_id = ingest.announced()[0][0]
    assert ingest.announced()[1:] == [(article_id, 2, "اصلاح شد")]
    assert ingest.versions() == [(article_id, 1), (article_id, 2)]


async def test_a_redelivered_batch_is_recognised_by_its_offsets(ingest: Ingest) -> None:
    await ingest.submit(article(), article(headline="دو"))
    ingest.log.next = 0  # the consumer restarted before committing: the same records again
    await ingest.submit(article(), article(headline="دو"))
    article_id = ingest.announced()[0][0]
    assert ingest.versions() == [(article_id, 1), (article_id, 2)]
    assert ingest.announced() == [(article_id, 2, "دو")]


async def test_a_withdrawal_is_a_version_and_one_of_no_article_is_refused(
    ingest: Ingest,
) -> None:
    await ingest.submit(article())
    article_id = ingest.announced()[0][0]
    await ingest.submit(
        {"publisher": "mashhad", "withdraw": True, "article_id": article_id, "reason": "error"},
        {"publisher": "mashhad", "withdraw": True, "external_id": "never-sent"},
    )
    assert [(e["version"], e["status"]) for e in ingest.watched.events] == [
        (1, "active"),
        (2, "withdrawn"),
    ]
    (reason,) = ingest.watched.reasons()
    assert reason.startswith("there is no article") and "to withdraw" in reason


async def test_the_api_keys_scopes_are_checked_again_per_record(ingest: Ingest) -> None:
    await ingest.submit(article(), headers={SCOPES_HEADER: "submit"})
    await ingest.submit(article(headline="اصلاح شد"), headers={SCOPES_HEADER: "submit"})
    assert len(ingest.announced()) == 1
    assert ingest.watched.reasons() == ["the editor key that sent this lacks the 'correct' scope"]
    await ingest.submit(article(headline="اصلاح شد"), headers={SCOPES_HEADER: "submit,correct"})
    assert [v for _, v, _ in ingest.announced()] == [1, 2]


async def test_a_version_stored_before_a_crash_is_adopted_then_the_batch_planned_again(
    ingest: Ingest,
) -> None:
    await ingest.submit(article())
    article_id = ingest.announced()[0][0]
    # An interrupted batch stored version 2 but never saved the head nor announced it.
    stored = ingest.db[VERSIONS.name].docs[f"{article_id}:1"]
    event = {**stored["event"], "version": 2, "headline": "پیش از خرابی", "content_hash": "c2"}
    orphan = {**stored, "_id": f"{article_id}:2", "version": 2, "event": event}
    ingest.db[VERSIONS.name].docs[orphan["_id"]] = orphan
    await ingest.submit(article(headline="سه"))
    assert ingest.versions() == [(article_id, 1), (article_id, 2), (article_id, 3)]
    assert ingest.announced()[1:] == [(article_id, 3, "سه")]


async def test_a_restarted_consumer_continues_the_articles_stored_before(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Articles a process has not stored are planned as new without reading their heads; one
    that exists after all (stored before a restart) is found when its version 1 clashes."""
    await ingest.submit(article(), article(headline="دو"))
    (article_id, _, _), *_ = ingest.announced()
    ingest.consumer.known.clear()  # a new process, which stored nothing yet
    ingest.log.next = 0  # and the records again: the restart came before the commit
    await ingest.submit(article(), article(headline="دو"))
    assert ingest.versions() == [(article_id, 1), (article_id, 2)]
    ingest.consumer.known.clear()
    await ingest.submit(article(headline="سه"))
    assert ingest.versions() == [(article_id, n) for n in (1, 2, 3)]
    assert [v for _, v, _ in ingest.announced()] == [2, 3]

    heads = ingest.db["articles"]
    reads: list[Any] = []
    find_one = heads.find_one

    async def counted(query: dict[str, Any], *args: Any) -> Any:
        reads.append(query["_id"])
        return await find_one(query, *args)

    monkeypatch.setattr(heads, "find_one", counted)
    await ingest.submit(article("b-1"), article("b-2"), article(headline="چهار"))
    assert reads == [article_id]  # the one article it knows: new ones need no read
    assert sorted(v for _, v, _ in ingest.announced()[-3:]) == [1, 1, 4]


@pytest.mark.parametrize("ingest", [{"batch_chunk_records": 2}], indirect=True)
async def test_a_batch_stored_in_chunks_keeps_each_article_s_order(ingest: Ingest) -> None:
    await ingest.submit(
        article(headline="یک"),
        {"publisher": "mashhad"},  # no headline
        article(headline="دو"),
        article("a-2"),
        article(headline="سه"),
    )
    article_id = ingest.announced()[0][0]
    assert [(v, h) for a, v, h in ingest.announced() if a == article_id] == [
        (1, "یک"),
        (2, "دو"),
        (3, "سه"),
    ]
    assert [v for a, v in ingest.versions() if a == article_id] == [1, 2, 3]
    assert len(ingest.announced()) == 4
    assert [d.offset for d in ingest.watched.dead_letters] == [1]


async def test_a_refusal_of_an_article_judged_new_is_checked_against_the_stored_one(
    ingest: Ingest,
) -> None:
    """A key that may correct but not submit: refused for a new article, but after a restart
    the consumer does not know the article is not new until it reads the stored head."""
    await ingest.submit(article())
    ingest.consumer.known.clear()  # a new process
    await ingest.submit(article(headline="اصلاح شد"), headers={SCOPES_HEADER: "correct"})
    assert [v for _, v, _ in ingest.announced()] == [1, 2]
    await ingest.submit(article("a-9"), headers={SCOPES_HEADER: "correct"})
    assert ingest.watched.reasons() == ["the editor key that sent this lacks the 'submit' scope"]


async def test_translation_statuses_come_in_batches_and_a_bad_record_goes_to_the_dlq_alone(
    ingest: Ingest,
) -> None:
    """``articles.translated`` feeds the heads' language states (the desk shows them) in
    batches: the good events of a batch are recorded, a record that is not one is set aside
    with its reason."""
    await ingest.submit(article("a-1"))
    (event,) = ingest.watched.events
    translation = TranslatedArticle(
        article_id=event["article_id"],
        version=1,
        publisher="mashhad",
        published=event["published"],
        language="en",
        source_language="fa",
        headline="Jahanshahr's four-language portal unveiled in Mashhad",
        body_html="<p>The portal was unveiled.</p>",
        revision=1,
        provenance=Provenance(engine="pseudo", translated_at=datetime.now(UTC)),
    )
    await ingest.broker.publish_batch(
        translation.model_dump(mode="json"), {"article_id": "x"}, topic=Topics.TRANSLATED
    )
    head = ingest.db[ARTICLES.name].docs[event["article_id"]]
    assert head["languages"]["en"]["version"] == 1
    (letter,) = ingest.watched.dead_letters
    assert letter.topic == Topics.TRANSLATED and letter.payload == json.dumps(
        {"article_id": "x"}, separators=(",", ":")
    )
    assert letter.reason.startswith("invalid message:")
