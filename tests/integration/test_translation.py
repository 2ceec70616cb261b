"""Translation on the real stack: engines over HTTP and a CTranslate2 model, routing, memory,
glossary, human translations, corrections and withdrawals.

The translate service is restarted for this module with a real engine chain: a
LibreTranslate-compatible server the tests control (fa→en, en→ar, en→ru) first, then a tiny
CTranslate2 Marian model (fa→en) built here. fa→ar and fa→ru must therefore pivot through
English, and a failing fa→en falls back to the model.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import Topics
from tests.integration.conftest import System, await_article, read_all, read_topic
from tests.support.lab_engine import Lab, running_lab
from tools.tiny_models import build_tiny_marian

pytestmark = pytest.mark.asyncio(loop_scope="session")

BODY = [
    "شهرداری مشهد امروز از افتتاح یک پارک جدید در منطقه ده خبر داد.",
    "شهردار مشهد گفت که پروژه قطار شهری تا پایان سال تکمیل می‌شود.",
    "نمایندگان متروپلیس از این پروژه بازدید کردند.",
]


@pytest.fixture(scope="module")
def lab(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    model = build_tiny_marian(tmp_path_factory.mktemp("model") / "opus-mt-fa-en")
    saved = dict(system.env)
    with running_lab() as lab:
        system.env.update(
            TRANSLATE_ENGINE="libretranslate,ctranslate2",
            TRANSLATE_LIBRETRANSLATE_URL=lab.url,
            TRANSLATE_MODEL_DIR=str(model),
            TRANSLATE_ENGINE_ATTEMPTS="2",
            TRANSLATE_ENGINE_BACKOFF_SECONDS="0.2",
            TRANSLATE_ENGINE_TIMEOUT_SECONDS="5",
            TRANSLATE_GLOSSARY_TTL_SECONDS="0",  # a glossary edit applies to the next article
        )
        system.kill("translate", signal.SIGTERM)
        system.start("translate")
        try:
            yield lab
        finally:
            system.env.clear()
            system.env.update(saved)
            system.kill("translate", signal.SIGTERM)
            system.start("translate")


@pytest.fixture
def engine(lab: Lab) -> Lab:
    lab.reset()
    return lab


async def submit(
    http: httpx.AsyncClient, system: System, body: list[str], headline: str = "خبر مشهد"
) -> str:
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={
            "headline": headline,
            "body_text": "\n\n".join(body),
            "external_id": uuid.uuid4().hex,
        },
        headers=system.auth("mashhad"),
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["article_id"])


async def translations(
    system: System, article_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The article's ``articles.translated`` events, once ``done`` holds for them."""

    def mine(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in seen if e.get("article_id") == article_id]

    seen = await read_topic(system.infra.kafka, Topics.TRANSLATED, lambda s: done(mine(s)))
    return mine(seen)


def latest(events: list[dict[str, Any]], language: str) -> dict[str, Any]:
    return max(
        (e for e in events if e["language"] == language),
        key=lambda e: (e["version"], e["revision"]),
    )


def have(*langs: str, version: int = 1) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda evs: all(
        any(e["language"] == lang and e["version"] >= version for e in evs) for lang in langs
    )


async def test_direct_and_pivot_routes_are_recorded_in_provenance(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    aid = await submit(http, system, BODY)
    events = await translations(system, aid, have("en", "ar", "ru"))
    en, ar = latest(events, "en"), latest(events, "ar")
    assert en["provenance"]["engine"] == "libretranslate"
    assert en["provenance"]["pivot"] is None
    assert en["headline"].startswith("<en>")
    assert ar["provenance"]["pivot"] == "en"
    assert ar["headline"].startswith("<ar> <en>")  # fa→en, then en→ar
    # headline and sentences pooled: one call per leg; ar and ru reuse en's fa→en segments
    pairs = [(s, t) for s, t, _ in engine.calls]
    assert sorted(pairs) == sorted([("fa", "en"), ("en", "ar"), ("en", "ru")])
    assert len(engine.calls[0][2]) == 1 + len(BODY)


async def test_a_failing_engine_falls_back_to_the_local_model(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    engine.failing.add(("fa", "en"))
    tag = uuid.uuid4().hex[:6]  # new text: nothing in the memory
    aid = await submit(http, system, [f"{tag} {BODY[0]}"], headline=f"خبر پارک تازهٔ مشهد {tag}")
    events = await translations(system, aid, have("en", "ar"))
    en, ar = latest(events, "en"), latest(events, "ar")
    assert en["provenance"]["engine"] == "ctranslate2"
    assert en["provenance"]["model"] and en["provenance"]["model_version"]
    assert ar["provenance"]["engine"] == "ctranslate2+libretranslate"
    assert ar["provenance"]["pivot"] == "en"


async def test_an_engine_outage_dead_letters_only_the_failed_languages(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    engine.failing.update({("en", "ar"), ("en", "ru")})
    aid = await submit(http, system, [f"{BODY[1]} {uuid.uuid4().hex[:6]}"])
    events = await translations(system, aid, have("en"))
    assert {e["language"] for e in events} == {"en"}  # published, not held back by ar and ru
    letters = await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.INGESTED),
        lambda seen: any(aid in (d.get("payload") or "") for d in seen),
    )
    letter = next(d for d in letters if aid in (d.get("payload") or ""))
    assert "ar:" in letter["reason"] and "ru:" in letter["reason"]
    assert "gave up after 2 attempts" in letter["reason"]


async def test_a_repeat_is_served_from_memory_without_engine_calls(
    http: httpx.AsyncClient, system: System, engine: Lab, producer: AIOKafkaProducer
) -> None:
    aid = await submit(http, system, BODY, headline="تکرار خبر مشهد")
    await translations(system, aid, have("en", "ar", "ru"))
    ingested = await read_topic(
        system.infra.kafka,
        Topics.INGESTED,
        lambda seen: any(e.get("article_id") == aid for e in seen),
    )
    event = next(e for e in ingested if e.get("article_id") == aid)
    engine.reset()
    await producer.send_and_wait(
        Topics.INGESTED, json.dumps({**event, "version": 2}).encode(), key=aid.encode()
    )
    await translations(system, aid, have("en", "ar", "ru", version=2))
    assert engine.calls == []


async def test_a_correction_translates_only_the_changed_paragraph(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    external = uuid.uuid4().hex
    first = {"headline": "اصلاحیه", "body_text": "\n\n".join(BODY), "external_id": external}
    url, auth = system.url("ingest", "/articles"), system.auth("mashhad")
    aid = (await http.post(url, json=first, headers=auth)).json()["article_id"]
    await translations(system, aid, have("en", "ar", "ru"))
    engine.reset()
    changed = "نمایندگان متروپلیس امروز از این پروژه بازدید کردند."
    second = {**first, "body_text": "\n\n".join([*BODY[:2], changed])}
    assert (await http.post(url, json=second, headers=auth)).status_code == 202
    events = await translations(system, aid, have("en", "ar", "ru", version=2))
    sent = engine.texts("fa", "en")  # for en, and as the first leg of ar and ru
    assert len(set(sent)) == 1 and "امروز" in sent[0]  # the glossary may have put Metropolis in
    assert len(engine.texts("en", "ar")) == 1
    assert "امروز" in latest(events, "en")["body_html"]


async def test_glossary_terms_are_applied_and_missing_ones_flagged(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    auth = system.auth("mashhad")
    glossary = system.url("ingest", "/glossary/en")
    current = (await http.get(glossary, headers=auth)).json()
    terms = [
        {"source": "مشهد", "target": "Mashhad"},
        {"source": "متروپلیس", "target": "Metropolis"},
    ]
    saved = await http.put(
        glossary, json={"terms": terms, "version": current["version"]}, headers=auth
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == current["version"] + 1
    stale = await http.put(
        glossary, json={"terms": [], "version": current["version"]}, headers=auth
    )
    assert stale.status_code == 409

    try:
        engine.forget.add("Metropolis")  # the engine mangles one name
        body = [f"{BODY[2]} {uuid.uuid4().hex[:6]}"]
        aid = await submit(http, system, body, headline="خبر مشهد")
        events = await translations(system, aid, have("en"))
        en = latest(events, "en")
        sent = engine.texts("fa", "en")
        assert any("Mashhad" in t for t in sent) and any("Metropolis" in t for t in sent)
        assert "Mashhad" in en["headline"]
        assert en["provenance"]["missing_terms"] == ["متروپلیس → Metropolis"]
        assert en["provenance"]["needs_review"] is True
        assert en["provenance"]["glossary_version"] == f"mashhad/en@{saved.json()['version']}"
    finally:  # later tests of the session expect mashhad's glossary as it was
        restored = await http.put(
            glossary,
            json={"terms": current["terms"], "version": saved.json()["version"]},
            headers=auth,
        )
        assert restored.status_code == 200, restored.text


async def await_committed(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Until ``group`` has committed past ``offset``: the record there has been handled."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(60):
            while True:
                offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
                meta = offsets.get(tp)
                if meta is not None and meta.offset > offset:
                    return
                await asyncio.sleep(0.1)  # poll interval while waiting for the commit
    finally:
        await admin.close()


async def test_a_human_translation_replaces_the_machine_one_for_good(
    http: httpx.AsyncClient, system: System, engine: Lab, producer: AIOKafkaProducer
) -> None:
    aid = await submit(http, system, BODY, headline="ترجمه انسانی")
    await translations(system, aid, have("en"))
    auth = system.auth("mashhad")
    url = system.url("ingest", f"/articles/{aid}/translations/en")
    human = {"headline": "Mashhad opens a park", "body_text": "A human translation."}
    resp = await http.put(url, json=human, headers=auth)
    assert resp.status_code == 202, resp.text
    events = await translations(
        system, aid, lambda evs: any(e["provenance"]["method"] == "human" for e in evs)
    )
    en = latest(events, "en")
    assert en["headline"] == "Mashhad opens a park"
    assert en["provenance"] | {"translated_at": None} == en["provenance"] | {
        "method": "human",
        "reviewed": True,
        "engine": "human",
        "translated_at": None,
    }

    # the same version delivered again: the machine path must leave the human text alone
    ingested = await read_topic(
        system.infra.kafka, Topics.INGESTED, lambda s: any(e.get("article_id") == aid for e in s)
    )
    event = next(e for e in ingested if e.get("article_id") == aid)
    meta = await producer.send_and_wait(
        Topics.INGESTED, json.dumps(event).encode(), key=aid.encode()
    )
    tp = TopicPartition(Topics.INGESTED, meta.partition)
    await await_committed(system.infra.kafka, "translate", tp, meta.offset)
    events = [
        e for e in await read_all(system.infra.kafka, Topics.TRANSLATED) if e["article_id"] == aid
    ]
    assert latest(events, "en")["headline"] == "Mashhad opens a park"
    assert [e["provenance"]["method"] for e in events if e["language"] == "en"][-1] == "human"

    # refused: another publisher's article, a language not translated into, no text
    assert (await http.put(url, json=human, headers=system.auth("tehran"))).status_code == 404
    other = system.url("ingest", f"/articles/{aid}/translations/de")
    assert (await http.put(other, json=human, headers=auth)).status_code == 422
    empty = await http.put(url, json={"headline": "x", "body_text": " "}, headers=auth)
    assert empty.status_code == 422
    shown = await await_article(  # the editor's view says who translated it
        system, http, "mashhad", aid, lambda a: a["languages"]["en"].get("method") == "human"
    )
    assert shown["languages"]["en"]["reviewed"] is True


async def test_a_withdrawal_withdraws_every_translation(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    aid = await submit(http, system, [f"{BODY[0]} {uuid.uuid4().hex[:6]}"])
    await translations(system, aid, have("en", "ar", "ru"))
    auth = system.auth("mashhad")
    assert (
        await http.delete(system.url("ingest", f"/articles/{aid}"), headers=auth)
    ).status_code == 202
    events = await translations(
        system,
        aid,
        lambda evs: (
            {e["language"] for e in evs if e["status"] == "withdrawn"} == {"en", "ar", "ru"}
        ),
    )
    assert all(latest(events, lang)["status"] == "withdrawn" for lang in ("en", "ar", "ru"))
