"""Translate's plan per (article, language) through FastStream's in-memory broker: pending without
an engine or a route, nothing for a version already handled, redelivered or held, the latest of
a batch only, an original in another of the publisher's languages into all the others. Fast: no
Kafka, no database (the real ``TranslationStore`` on an in-memory stand-in), a counting engine;
``tests/integration/test_translation.py`` and ``test_review_flow.py`` cover the same paths on
the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.translate import consumer
from services.translate.consumer import NO_ENGINE
from services.translate.pipeline import BatchTranslator
from services.translate.routing import Router
from services.translate.settings import TranslateSettings
from services.translate.store import TRANSLATIONS, Status, TranslationStore
from shared.contracts import DateSource, HumanTranslation, IngestedArticle, Topics
from shared.glossary import GLOSSARIES, Glossary, GlossaryStore, Term
from tests.support.fast_broker import (
    Watched,
    number_offsets,
    register_publishers,
    runtime,
    watch_topics,
)
from tests.support.memory_db import MemoryDatabase

NOW = datetime(2025, 4, 29, 7, 21, tzinfo=UTC)


@dataclass
class Tagger:
    """A counting engine for some pairs: tags each segment with its target language."""

    pairs: frozenset[tuple[str, str]]
    name: str = "tagger"
    model: str | None = "tagger"
    model_version: str | None = "1"
    checked: bool = False  # not a translation: the automatic checks would only fail it
    calls: list[tuple[str, str]] = field(default_factory=list)

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        self.calls.append((source, target))
        return [f"[{target}] {s}" if s.strip() else s for s in segments]


@dataclass
class Translate:
    broker: KafkaBroker  # patched by TestKafkaBroker: delivers in memory
    db: MemoryDatabase
    watched: Watched
    engine: Tagger | None

    async def ingested(self, *articles: IngestedArticle) -> None:
        """One batch, as the consumer would fetch it from ``articles.ingested``."""
        bodies = [a.model_dump(mode="json") for a in articles]
        await self.broker.publish_batch(*bodies, topic=Topics.INGESTED)

    def state(self, article_id: str, language: str) -> dict[str, Any]:
        return self.db[TRANSLATIONS.name].docs[f"{article_id}:{language}"]

    def published(self) -> list[tuple[str, int, str, bool]]:
        return [
            (e["language"], e["version"], e["status"], e["provenance"]["held"])
            for e in self.watched.events
        ]


Start = Callable[..., Awaitable[Translate]]


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """``await start(pairs, policy=..., translate_to=...)``: the service with an engine for
    ``pairs`` (None: no engine configured), on a publisher with that policy and languages."""
    number_offsets(monkeypatch)
    stack = AsyncExitStack()

    async def make(
        pairs: set[tuple[str, str]] | None,
        policy: str = "publish",
        translate_to: Sequence[str] = ("en",),
    ) -> Translate:
        settings = TranslateSettings()
        db = MemoryDatabase()
        register_publishers(
            db,
            {
                "_id": "mashhad",
                "name": "Mashhad",
                "language": "fa",
                "translate_to": list(translate_to),
                "translation_policy": policy,
            },
        )
        rt = runtime("translate", settings, db)
        engine = Tagger(frozenset(pairs)) if pairs is not None else None
        translator = BatchTranslator(Router([engine]), None) if engine else None
        store, glossaries = TranslationStore(db), GlossaryStore(db)  # type: ignore[arg-type]
        consumer.register(rt, store, translator, glossaries, settings)
        watched = watch_topics(rt.broker, Topics.TRANSLATED, Topics.INGESTED)
        client = await stack.enter_async_context(TestKafkaBroker(rt.broker))
        return Translate(client, db, watched, engine)

    async with stack:
        yield make


def article(version: int = 1, article_id: str = "mashhad-1", **overrides: Any) -> IngestedArticle:
    fields: dict[str, Any] = {
        "article_id": article_id,
        "version": version,
        "publisher": "mashhad",
        "language": "fa",
        "headline": f"سفر ۳۰ میلیون زائر {version}",
        "body_html": "<p>متن</p>",
        "body_text": "متن",
        "published": NOW,
        "published_source": DateSource.EDITOR,
        "content_hash": f"hash-{version}",
        "ingested_at": NOW,
        **overrides,
    }
    return IngestedArticle(**fields)


async def test_without_an_engine_every_language_is_pending_with_the_reason(start: Start) -> None:
    service = await start(None, translate_to=("en", "ar"))
    await service.ingested(article())
    for language in ("en", "ar"):
        state = service.state("mashhad-1", language)
        assert (state["status"], state["reason"], state["version"]) == ("pending", NO_ENGINE, 1)
    assert service.published() == []
    assert service.watched.dead_letters == []


async def test_a_language_without_a_route_is_pending_and_the_others_are_translated(
    start: Start,
) -> None:
    service = await start({("fa", "en")}, translate_to=("en", "ar"))
    await service.ingested(article())
    assert service.published() == [("en", 1, "active", False)]
    assert service.watched.events[0]["headline"] == "[en] سفر ۳۰ میلیون زائر 1"
    pending = service.state("mashhad-1", "ar")
    assert pending["status"] == Status.PENDING.value
    assert "ar" in pending["reason"] and "tagger" in pending["reason"]
    assert service.watched.dead_letters == []


async def test_a_redelivered_version_is_translated_and_announced_once(start: Start) -> None:
    service = await start({("fa", "en")})
    await service.ingested(article())
    await service.ingested(article())
    assert service.published() == [("en", 1, "active", False)]
    assert service.engine is not None and service.engine.calls == [("fa", "en")]


async def test_an_older_version_after_a_later_one_is_handled_is_ignored(start: Start) -> None:
    service = await start({("fa", "en")})
    await service.ingested(article(2))
    await service.ingested(article(1))
    assert service.published() == [("en", 2, "active", False)]
    assert service.engine is not None and len(service.engine.calls) == 1
    assert service.state("mashhad-1", "en")["version"] == 2


async def test_only_the_latest_version_in_a_batch_is_translated(start: Start) -> None:
    service = await start({("fa", "en")})
    await service.ingested(article(1), article(3), article(2), article(1, "mashhad-2"))
    assert sorted(service.published()) == [("en", 1, "active", False), ("en", 3, "active", False)]
    assert service.state("mashhad-1", "en")["version"] == 3
    assert service.engine is not None and len(service.engine.calls) == 1  # pooled per pair


async def test_a_held_version_is_announced_held_and_not_translated_again(start: Start) -> None:
    service = await start({("fa", "en")}, policy="review")
    await service.ingested(article())
    assert service.published() == [("en", 1, "active", True)]
    assert service.state("mashhad-1", "en")["status"] == Status.REVIEW.value
    await service.ingested(article())  # redelivered: approval or sending back settles it
    assert service.published() == [("en", 1, "active", True)]
    assert service.engine is not None and len(service.engine.calls) == 1


async def test_one_stored_but_never_announced_is_announced_without_translating(
    start: Start,
) -> None:
    service = await start({("fa", "en")})
    await service.ingested(article())
    service.state("mashhad-1", "en")["announced_revision"] = 0  # the crash before announcing
    await service.ingested(article())
    assert service.published() == [("en", 1, "active", False)] * 2
    assert service.engine is not None and len(service.engine.calls) == 1


async def test_a_withdrawal_takes_the_translation_down_without_an_engine_call(
    start: Start,
) -> None:
    service = await start({("fa", "en")})
    await service.ingested(article())
    await service.ingested(article(2, status="withdrawn"))
    assert service.published() == [("en", 1, "active", False), ("en", 2, "withdrawn", False)]
    assert service.engine is not None and len(service.engine.calls) == 1


async def test_a_bad_record_goes_to_the_dlq_and_the_batch_goes_on(start: Start) -> None:
    service = await start({("fa", "en")})
    bad = {**article(article_id="mashhad-2").model_dump(mode="json"), "version": "two"}
    await service.broker.publish_batch(
        bad, article().model_dump(mode="json"), topic=Topics.INGESTED
    )
    assert service.published() == [("en", 1, "active", False)]
    (letter,) = service.watched.dead_letters
    assert letter.topic == Topics.INGESTED and letter.reason.startswith("invalid message:")
    assert "version" in letter.reason


EN: dict[str, Any] = {
    "language": "en",
    "headline": "Mashhad hosts Kazan",
    "body_html": "<p>Text</p>",
}


async def test_an_english_original_is_translated_into_persian_and_the_others_not_english(
    start: Start,
) -> None:
    service = await start({("en", "fa"), ("en", "ar"), ("fa", "en")}, translate_to=("en", "ar"))
    await service.ingested(article(**EN))
    assert sorted(service.published()) == [("ar", 1, "active", False), ("fa", 1, "active", False)]
    fa = next(e for e in service.watched.events if e["language"] == "fa")
    assert (fa["headline"], fa["source_language"]) == ("[fa] Mashhad hosts Kazan", "en")
    assert "mashhad-1:en" not in service.db[TRANSLATIONS.name].docs  # its own: never pending
    assert service.engine is not None and sorted(service.engine.calls) == [
        ("en", "ar"),
        ("en", "fa"),
    ]
    # A correction of the original is translated again, into the same languages.
    again = {"headline": "Mashhad hosts Kazan again", "body_html": "<p>Text</p>"}
    await service.ingested(article(2, language="en", **again))
    assert sorted(service.published()[2:]) == [
        ("ar", 2, "active", False),
        ("fa", 2, "active", False),
    ]
    assert service.watched.events[-1]["headline"].endswith("Mashhad hosts Kazan again")
    assert service.state("mashhad-1", "fa")["version"] == 2
    assert service.watched.dead_letters == []


async def test_an_original_in_a_language_without_a_route_to_persian_leaves_persian_pending(
    start: Start,
) -> None:
    service = await start({("fa", "en")}, translate_to=("en",))
    await service.ingested(article(language="en", headline="Mashhad hosts Kazan"))
    pending = service.state("mashhad-1", "fa")
    assert pending["status"] == Status.PENDING.value and "fa" in pending["reason"]
    assert service.published() == []


async def test_a_glossary_of_the_usual_originals_is_not_applied_to_one_in_another_language(
    start: Start,
) -> None:
    service = await start({("fa", "ar"), ("en", "ar")}, translate_to=("ar",))
    terms = [Term(source="مشهد", target="مشهد المقدسة")]
    glossary = Glossary(publisher="mashhad", language="ar", version=1, terms=terms)  # from fa
    service.db[GLOSSARIES.name].docs["mashhad:ar"] = {"_id": "mashhad:ar", **glossary.model_dump()}
    await service.ingested(article(headline="مشهد"), article(article_id="mashhad-2", **EN))
    by_id = {e["article_id"]: e["provenance"] for e in service.watched.events}
    assert by_id["mashhad-1"]["glossary_version"] == "mashhad/ar@1"  # Persian: its terms apply
    assert by_id["mashhad-2"]["glossary_version"] is None  # English: nothing to match


async def test_an_editors_translation_that_arrives_while_the_engine_works_wins(
    start: Start,
) -> None:
    """The editor's text is read after the engine's work (for the whole batch at once): the
    machine output of that version is never announced over it."""
    service = await start({("fa", "en")}, translate_to=("en", "ar"))
    engine = service.engine
    assert engine is not None
    store = TranslationStore(service.db)  # type: ignore[arg-type]
    translate = engine.translate

    async def while_an_editor_submits(
        segments: Sequence[str], source: str, target: str
    ) -> list[str]:
        await store.save_human(
            HumanTranslation(
                article_id="mashhad-1",
                version=1,
                publisher="mashhad",
                language="en",
                headline="Thirty million pilgrims",
                body_html="<p>Text</p>",
                published=NOW,
                source_language="fa",
                translated_by="editor (key 1)",
                submitted_at=NOW,
            )
        )
        return await translate(segments, source, target)

    engine.translate = while_an_editor_submits  # type: ignore[method-assign]
    await service.ingested(article())
    (event,) = service.watched.events  # ar has no route: pending, nothing announced
    assert (event["language"], event["headline"]) == ("en", "Thirty million pilgrims")
    assert event["provenance"]["method"] == "human"
    assert service.state("mashhad-1", "en")["human_version"] == 1
