"""Translation memory: repeats and corrections cost only the segments that changed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from services.translate.memory import (
    MEMORY,
    TranslationMemory,
    memory_key,
    preferred_legs,
)
from services.translate.pipeline import BatchTranslator, Job, token_chunks
from services.translate.routing import Leg, Router
from shared.contracts import DateSource, IngestedArticle, TranslatedArticle
from shared.persian import NORMALISER_VERSION
from shared.storage import Database

WHEN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class FakeCollection:
    """Async collection holding documents by ``_id``, failing like MongoDB on duplicates."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.reads: list[dict[str, Any]] = []
        self.fail_reads: Exception | None = None
        self.fail_writes: Exception | None = None

    async def find_one(
        self, filter: dict[str, Any], projection: dict[str, int] | None = None
    ) -> dict[str, Any] | None:
        assert set(filter) == {"_id"} and isinstance(filter["_id"], str), "point reads only"
        self.reads.append(filter)
        if self.fail_reads:
            raise self.fail_reads
        doc = self.docs.get(filter["_id"])
        return dict(doc) if doc is not None else None

    async def find(
        self,
        filter: dict[str, Any],
        projection: dict[str, int] | None = None,
        batch_size: int = 0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Reads by ``_id`` only: ``{_id: id}`` or ``{_id: {$in: [ids]}}``."""
        assert set(filter) == {"_id"}, "reads by _id only"
        wanted = filter["_id"]
        ids = wanted["$in"] if isinstance(wanted, dict) else [wanted]
        assert all(isinstance(i, str) for i in ids)
        self.reads.append(filter)
        if self.fail_reads:
            raise self.fail_reads
        for i in ids:
            if (doc := self.docs.get(i)) is not None:
                yield dict(doc)

    async def insert_many(self, docs: Sequence[dict[str, Any]], *, ordered: bool = True) -> None:
        assert not ordered, "unordered, so one duplicate does not stop the rest"
        if self.fail_writes:
            raise self.fail_writes
        errors = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key"})
            else:
                self.docs[doc["_id"]] = dict(doc)
        if errors:
            raise BulkWriteError(
                {"writeErrors": errors, "writeConcernErrors": [], "nInserted": len(docs)}
            )


class FakeDb:
    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection())


class CountingEngine:
    """PseudoEngine-like (tags each segment with engine and target) that records every call
    and can be made to fail transiently, as a remote engine that is down."""

    def __init__(
        self,
        name: str = "pseudo",
        *,
        model_version: str | None = "1",
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.name = name
        self.model: str | None = f"{name}-model"
        self.model_version = model_version
        self.pairs = set(pairs) if pairs is not None else None
        self.down = False
        self.calls: list[list[str]] = []

    def supports(self, source: str, target: str) -> bool:
        return source != target if self.pairs is None else (source, target) in self.pairs

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        self.calls.append(list(segments))
        if self.down:
            raise ConnectionError("engine down")
        return [f"[{self.name}:{target}] {s}" for s in segments]

    @property
    def sent(self) -> list[str]:
        return [s for call in self.calls for s in call]


def article(body: str, headline: str = "خبر شهر", version: int = 1) -> IngestedArticle:
    return IngestedArticle(
        article_id="tehran-1",
        version=version,
        publisher="tehran",
        language="fa",
        headline=headline,
        body_html="".join(f"<p>{p}</p>" for p in body.split("\n\n")),
        body_text=body,
        published=WHEN,
        published_source=DateSource.EDITOR,
        content_hash=f"hash-{version}",
        ingested_at=WHEN,
    )


async def translate(
    router: Router, art: IngestedArticle, target: str, memory: TranslationMemory | None = None
) -> TranslatedArticle:
    (outcome,) = await BatchTranslator(router, memory, attempts=1).run([Job(art, target)])
    assert outcome.event is not None, outcome.error
    return outcome.event


def setup() -> tuple[FakeCollection, TranslationMemory]:
    db = FakeDb()
    return db[MEMORY.name], TranslationMemory(cast(Database, db))


BODY = "پاراگراف یک\n\nپاراگراف دو\n\nپاراگراف سه"


async def test_repeat_of_an_article_makes_no_engine_call() -> None:
    coll, memory = setup()
    engine = CountingEngine()
    router = Router([engine])
    first = await translate(router, article(BODY), "en", memory)
    assert len(engine.calls) == 1 and len(coll.docs) == 4
    again = await translate(router, article(BODY, version=2), "en", memory)
    assert len(engine.calls) == 1
    assert (again.headline, again.body_html) == (first.headline, first.body_html)
    assert again.headline == "[pseudo:en] خبر شهر"
    assert (again.provenance.engine, again.provenance.model) == ("pseudo", "pseudo-model")
    assert (again.provenance.model_version, again.provenance.pivot) == ("1", None)
    assert (memory.hits, memory.misses) == (4, 4)
    assert all(set(read) == {"_id"} for read in coll.reads)


async def test_correction_sends_only_the_changed_paragraph() -> None:
    _, memory = setup()
    engine = CountingEngine()
    router = Router([engine])
    await translate(router, article(BODY), "en", memory)
    corrected = BODY.replace("پاراگراف دو", "پاراگراف دو، اصلاح شده")
    out = await translate(router, article(corrected, version=2), "en", memory)
    assert engine.calls[-1] == ["پاراگراف دو، اصلاح شده"]
    assert out.body_html == (
        "<p>[pseudo:en] پاراگراف یک</p>"
        "<p>[pseudo:en] پاراگراف دو، اصلاح شده</p>"
        "<p>[pseudo:en] پاراگراف سه</p>"
    )


async def test_identical_segments_in_one_article_are_sent_once() -> None:
    _, memory = setup()
    engine = CountingEngine()
    out = await translate(Router([engine]), article("تکرار\n\nیکتا\n\nتکرار"), "en", memory)
    assert len(engine.calls) == 1
    assert sorted(engine.calls[0]) == sorted(["خبر شهر", "تکرار", "یکتا"])
    assert (
        out.body_html == "<p>[pseudo:en] تکرار</p><p>[pseudo:en] یکتا</p><p>[pseudo:en] تکرار</p>"
    )


def legs(model_version: str | None = "1", target: str = "en") -> tuple[Leg, ...]:
    return (Leg("pseudo", "pseudo-model", model_version, "fa", target),)


def test_key_changes_with_everything_that_changes_the_output() -> None:
    base = memory_key("fa", "en", legs(), "متن")
    assert base == memory_key("fa", "en", legs(), "متن")
    assert len(base) == 64 and int(base, 16) >= 0
    variants = {
        memory_key("fa", "en", legs(model_version="2"), "متن"),
        memory_key("fa", "ar", legs(target="ar"), "متن"),
        memory_key("fa", "en", legs(), "متن", normaliser_version=NORMALISER_VERSION + "+1"),
        memory_key("fa", "en", legs(), "متن", glossary_version="g1"),
        memory_key("fa", "en", (Leg("other", "pseudo-model", "1", "fa", "en"),), "متن"),
        memory_key("fa", "en", legs(), "متن دیگر"),
    }
    assert base not in variants and len(variants) == 6
    assert memory_key("fa", "en", legs(), "متن", glossary_version=None) == memory_key(
        "fa", "en", legs(), "متن", glossary_version="none"
    )


async def test_new_model_version_misses() -> None:
    _, memory = setup()
    engine = CountingEngine()
    router = Router([engine])
    await translate(router, article(BODY), "en", memory)
    engine.model_version = "2"
    out = await translate(router, article(BODY), "en", memory)
    assert len(engine.calls) == 2 and out.provenance.model_version == "2"


async def test_fallback_results_are_stored_under_the_fallback_route() -> None:
    coll, memory = setup()
    primary, backup = CountingEngine("primary"), CountingEngine("backup")
    router = Router([primary, backup])
    primary.down = True
    out = await translate(router, article(BODY), "en", memory)
    assert out.provenance.engine == "backup"
    fallback = preferred_legs(Router([backup]), "fa", "en")
    assert memory_key("fa", "en", fallback, "پاراگراف یک") in coll.docs
    assert (
        memory_key("fa", "en", preferred_legs(router, "fa", "en"), "پاراگراف یک") not in coll.docs
    )

    primary.down = False
    again = await translate(router, article(BODY), "en", memory)
    assert len(primary.calls) == 2 and len(backup.calls) == 1
    assert again.provenance.engine == "primary"
    assert again.headline == "[primary:en] خبر شهر"


async def test_all_hits_through_a_pivot_report_the_preferred_route() -> None:
    _, memory = setup()
    to_en = CountingEngine("a", pairs=[("fa", "en")])
    from_en = CountingEngine("b", pairs=[("en", "ar")])
    router = Router([to_en, from_en])
    first = await translate(router, article(BODY), "ar", memory)
    again = await translate(router, article(BODY), "ar", memory)
    assert len(to_en.calls) == len(from_en.calls) == 1
    assert again.body_html == first.body_html
    assert (again.provenance.engine, again.provenance.pivot) == ("a+b", "en")
    assert again.provenance.model == "a-model+b-model"


async def test_pivot_targets_reuse_the_batch_s_english_segments() -> None:
    to_en = CountingEngine("a", pairs=[("fa", "en")])
    from_en = CountingEngine("b", pairs=[("en", "ar"), ("en", "ru")])
    translator = BatchTranslator(Router([to_en, from_en]), None, attempts=1)
    outcomes = await translator.run([Job(article(BODY), t) for t in ("en", "ar", "ru")])
    assert [o.error for o in outcomes] == [None] * 3
    assert len(to_en.calls) == 1  # fa→en once, for en and for both pivots
    assert sorted(to_en.sent) == sorted(["خبر شهر", *BODY.split("\n\n")])
    ru = outcomes[2].event
    assert ru is not None and ru.headline == "[b:ru] [a:en] خبر شهر"
    assert ru.provenance.pivot == "en"


async def test_a_pivot_reuses_english_from_the_memory_of_an_earlier_batch() -> None:
    _, memory = setup()
    to_en = CountingEngine("a", pairs=[("fa", "en")])
    from_en = CountingEngine("b", pairs=[("en", "ar"), ("en", "ru")])
    router = Router([to_en, from_en])
    await translate(router, article(BODY), "en", memory)
    ar = await translate(router, article(BODY), "ar", memory)
    assert len(to_en.calls) == 1 and len(from_en.calls) == 1
    assert ar.body_html.startswith("<p>[b:ar] [a:en] پاراگراف یک</p>")
    # and the other way round: a pivot's first leg serves a later direct fa→en
    to_en2 = CountingEngine("a", pairs=[("fa", "en")])
    router2 = Router([to_en2, from_en])
    other = article("جمله تازه", headline="عنوان تازه")
    await translate(router2, other, "ru", memory)
    en = await translate(router2, other, "en", memory)
    assert len(to_en2.calls) == 1
    assert en.headline == "[a:en] عنوان تازه"


async def test_chat_engines_get_the_headline_with_the_lead_as_context() -> None:
    engine = CountingEngine("chat")
    engine.uses_context = True  # type: ignore[attr-defined]
    out = await translate(Router([engine]), article(BODY, headline="بازدید شهردار"), "en")
    sent = next(s for s in engine.sent if s.startswith("بازدید شهردار"))
    assert sent == "بازدید شهردار\n\n<context>پاراگراف یک</context>"
    assert out.headline == "[chat:en] بازدید شهردار"
    assert out.body_html.startswith("<p>[chat:en] پاراگراف یک</p>")
    # an engine without context support on any route: the headline alone
    await translate(Router([engine, CountingEngine("nmt")]), article(BODY, version=2), "en")
    assert "خبر شهر" in engine.sent  # the bare headline, no lead attached


def test_engine_calls_are_length_sorted_whole_model_batches() -> None:
    texts = [" ".join(["واژه"] * n) for n in (9, 1, 5, 3, 7, 2)]
    chunks = token_chunks(texts, budget=30, batch=2)
    assert [len(c) for c in chunks] == [4, 2]
    flat = [t for c in chunks for t in c]
    assert [len(t.split()) for t in flat] == [1, 2, 3, 5, 7, 9]
    assert token_chunks(texts, budget=1, batch=4)[0] == flat[:4]  # one whole batch at least


async def test_no_route_is_raised_before_touching_the_memory() -> None:
    coll, memory = setup()
    with pytest.raises(LookupError):
        await translate(Router([CountingEngine(pairs=[])]), article(BODY), "en", memory)
    assert coll.reads == []


async def test_engine_failure_fails_the_article_and_stores_nothing() -> None:
    coll, memory = setup()
    engine = CountingEngine()
    engine.down = True
    (outcome,) = await BatchTranslator(Router([engine]), memory, attempts=1).run(
        [Job(article(BODY), "en")]
    )
    assert outcome.event is None and outcome.error and "engine down" in outcome.error
    assert coll.docs == {}


async def test_database_outage_propagates() -> None:
    coll, memory = setup()
    engine = CountingEngine()
    coll.fail_reads = AutoReconnect("db down")
    with pytest.raises(AutoReconnect):
        await translate(Router([engine]), article(BODY), "en", memory)
    assert engine.calls == []
    coll.fail_reads = None
    coll.fail_writes = AutoReconnect("db down")
    with pytest.raises(AutoReconnect):
        await translate(Router([engine]), article(BODY), "en", memory)


async def test_store_ignores_duplicates_only() -> None:
    coll, memory = setup()
    await memory.store({"k1": "one"})
    await memory.store({"k1": "other", "k2": "two"})  # another replica stored k1 first
    assert {k: d["text"] for k, d in coll.docs.items()} == {"k1": "one", "k2": "two"}
    assert await memory.lookup(["k1", "k2", "k3", "k1"]) == {"k1": "one", "k2": "two"}

    coll.fail_writes = BulkWriteError({"writeErrors": [{"index": 0, "code": 121}]})
    with pytest.raises(BulkWriteError):
        await memory.store({"k3": "three"})
    coll.fail_writes = BulkWriteError(
        {"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "timeout"}]}
    )
    with pytest.raises(BulkWriteError):
        await memory.store({"k3": "three"})


async def test_logs_segments_hits_and_misses(caplog: pytest.LogCaptureFixture) -> None:
    _, memory = setup()
    router = Router([CountingEngine()])
    await translate(router, article(BODY), "en", memory)
    with caplog.at_level(logging.INFO, logger="services.translate.pipeline"):
        await translate(router, article(BODY + "\n\nتازه"), "en", memory)
    (record,) = [r for r in caplog.records if r.getMessage() == "translated batch"]
    assert (record.segments, record.memory_hits) == (5, 4)  # type: ignore[attr-defined]
    assert (memory.hits, memory.misses) == (4, 5)


async def test_without_a_memory_every_segment_is_sent() -> None:
    engine = CountingEngine()
    router = Router([engine])
    await translate(router, article(BODY), "en")
    await translate(router, article(BODY), "en")
    assert len(engine.calls) == 2
