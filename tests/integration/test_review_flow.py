"""The publishing policy on the real stack: automatic checks, held translations, approval and
send back, from the engine's output to the partners' feeds.

The translate service is restarted for this module with a LibreTranslate-compatible server the
tests control (``Lab.replies`` chooses its output per segment) first, then a tiny CTranslate2
model (fa→en: what a send back gets), and the registry's policies are set per publisher: mashhad
``hold``, tehran ``publish``, gorgan ``review``. The translation that drops a figure
("۳۰ میلیون زائر" -> "3 million pilgrims") fails the numbers check.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lxml import etree

from services.feeds.render import entry_id
from shared.contracts import HumanTranslation, IngestedArticle, RetranslationRequest, Topics, utcnow
from tests.integration.conftest import FIXTURES, System, await_feed, read_topic
from tests.integration.test_translation import await_committed
from tests.support.lab_engine import Lab, running_lab
from tools.tiny_models import build_tiny_marian

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICIES = {"mashhad": "hold", "tehran": "publish", "gorgan": "review"}
CS = "{https://city-syndication.org/ns/provenance/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"

HEADLINE = "سفر ۳۰ میلیون زائر"
SENTENCE = "۳۰ میلیون زائر در سال گذشته به این شهر آمدند."
GOOD = {
    HEADLINE: "30 million pilgrims travel",
    SENTENCE: "30 million pilgrims came to this city last year.",
}
DROPPED = {**GOOD, SENTENCE: "3 million pilgrims came to this city last year."}


def load_registry(system: System, path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(path)],
        env={**os.environ, **system.env},
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def lab(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    registry = yaml.safe_load((FIXTURES / "registry.yaml").read_text(encoding="utf-8"))
    for publisher, policy in POLICIES.items():
        registry["publishers"][publisher]["translation_policy"] = policy
    policies = tmp_path_factory.mktemp("registry") / "registry.yaml"
    policies.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    model = build_tiny_marian(tmp_path_factory.mktemp("model") / "opus-mt-fa-en")
    saved = dict(system.env)
    with running_lab() as lab:
        load_registry(system, policies)
        system.env.update(
            TRANSLATE_ENGINE="libretranslate,ctranslate2",
            TRANSLATE_LIBRETRANSLATE_URL=lab.url,
            TRANSLATE_MODEL_DIR=str(model),
            TRANSLATE_ENGINE_TIMEOUT_SECONDS="5",
        )
        system.kill("translate", signal.SIGTERM)
        system.start("translate")
        try:
            yield lab
        finally:
            load_registry(system, FIXTURES / "registry.yaml")
            system.env.clear()
            system.env.update(saved)
            system.kill("translate", signal.SIGTERM)
            system.start("translate")


@pytest.fixture
def engine(lab: Lab) -> Lab:
    lab.reset()
    return lab


async def submit(http: httpx.AsyncClient, system: System, publisher: str) -> str:
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={"headline": HEADLINE, "body_text": SENTENCE, "external_id": uuid.uuid4().hex},
        headers=system.auth(publisher),
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["article_id"])


Record = tuple[TopicPartition, int, dict[str, Any]]


async def english(
    system: System, aid: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> Record:
    """The first ``articles.translated`` record of the article in English satisfying ``done``,
    with where it is on the topic."""
    consumer = AIOKafkaConsumer(
        Topics.TRANSLATED,
        bootstrap_servers=system.infra.kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for r in records:
                        event = json.loads(r.value)
                        if event["article_id"] == aid and event["language"] == "en" and done(event):
                            return tp, r.offset, event
    finally:
        await consumer.stop()


def held(event: dict[str, Any]) -> bool:
    return bool(event["provenance"]["held"])


async def atom_entry(http: httpx.AsyncClient, url: str, aid: str) -> Any:
    """The feed's entry for the article in English (lxml), or None."""
    doc = etree.fromstring((await http.get(url)).content)
    wanted = entry_id(aid, "en")
    return next((e for e in doc.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}id") == wanted), None)


async def metric(http: httpx.AsyncClient, system: System, series: str) -> float:
    text = (await http.get(system.url("translate", "/metrics"))).text
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def approval(event: dict[str, Any], review: str, **changes: Any) -> bytes:
    fields = {k: v for k, v in event.items() if k not in ("provenance", "revision")}
    human = HumanTranslation.model_validate(
        {
            **fields,
            **changes,
            "translated_by": "test-editor (desk)",
            "submitted_at": utcnow(),
            "review": review,
        }
    )
    return human.model_dump_json().encode()


async def test_a_dropped_figure_is_held_until_an_editor_approves_it(
    http: httpx.AsyncClient, system: System, engine: Lab, producer: AIOKafkaProducer
) -> None:
    engine.replies.update({(src, "en"): out for src, out in DROPPED.items()})
    approved_before = await metric(
        http, system, 'syndication_translations_reviewed_total{action="approved"}'
    )
    aid = await submit(http, system, "mashhad")
    tp, offset, event = await english(system, aid, held)
    assert SENTENCE in engine.texts("fa", "en")  # the segment as written, so the reply was used
    p = event["provenance"]
    assert (p["policy"], p["held"], p["needs_review"]) == ("hold", True, True)
    assert p["checks_version"]
    numbers = [f for f in p["check_failures"] if f["check"] == "numbers"]
    assert numbers and numbers[0]["segment"] == 1 and numbers[0]["target"] == DROPPED[SENTENCE]
    assert all(f["segment"] != 0 for f in p["check_failures"])  # the headline kept its figure

    # the feeds have handled the held translation: their English feed has nothing of it
    await await_committed(system.infra.kafka, "feeds-translations", tp, offset)
    feed = system.url("feeds", "/feeds/mashhad/en.atom")
    assert await atom_entry(http, feed, aid) is None

    await producer.send_and_wait(
        Topics.HUMAN_TRANSLATIONS, approval(event, "approved"), key=aid.encode()
    )
    _, _, out = await english(system, aid, lambda e: e["provenance"]["review"] == "approved")
    q = out["provenance"]
    assert (q["held"], q["reviewed"], q["method"]) == (False, True, "machine")
    assert q["reviewed_by"] == "test-editor (desk)" and out["revision"] > event["revision"]
    assert out["body_html"] == event["body_html"]  # the machine text, as approved

    wanted = entry_id(aid, "en")
    await await_feed(http, feed, lambda f: any(e.id == wanted for e in f.entries))
    entry = await atom_entry(http, feed, aid)
    prov = entry.find(f"{CS}provenance")
    assert (prov.get("reviewed"), prov.get("review"), prov.get("held")) == (
        "true",
        "approved",
        "false",
    )
    page = (await http.get(system.url("feeds", f"/entries/{aid}/en"))).text
    assert "approved by an editor" in page and "automatic checks: failed: numbers" in page

    assert await metric(http, system, 'syndication_translations_held_total{policy="hold"}') >= 1
    assert (
        await metric(http, system, 'syndication_translation_check_failures_total{check="numbers"}')
        >= 1
    )
    assert (
        await metric(http, system, 'syndication_translations_reviewed_total{action="approved"}')
        == approved_before + 1
    )
    assert (
        await metric(http, system, 'syndication_translation_held_seconds_count{action="approved"}')
        >= 1
    )


async def test_under_publish_the_same_translation_goes_out_marked_with_the_failed_check(
    http: httpx.AsyncClient, system: System, engine: Lab
) -> None:
    engine.replies.update({(src, "en"): out for src, out in DROPPED.items()})
    aid = await submit(http, system, "tehran")
    _, _, event = await english(system, aid, lambda e: True)
    p = event["provenance"]
    assert (p["policy"], p["held"], p["needs_review"]) == ("publish", False, True)

    feed = system.url("feeds", "/feeds/tehran/en.atom")
    wanted = entry_id(aid, "en")
    await await_feed(http, feed, lambda f: any(e.id == wanted for e in f.entries))
    prov = (await atom_entry(http, feed, aid)).find(f"{CS}provenance")
    failures = {f.get("check"): f.text for f in prov.findall(f"{CS}check-failure")}
    assert failures.get("numbers")
    json_feed = (await http.get(system.url("feeds", "/feeds/tehran/en.json"))).json()
    [item] = [i for i in json_feed["items"] if i["id"] == wanted]
    checks = item["_city_syndication"]["provenance"]["check_failures"]
    assert any(c["check"] == "numbers" and c["segment"] == 1 for c in checks)


async def test_under_review_a_clean_translation_waits_and_a_send_back_needs_another_engine(
    http: httpx.AsyncClient, system: System, engine: Lab, producer: AIOKafkaProducer
) -> None:
    tag = uuid.uuid4().hex[:6]  # a new sentence: nothing in the memory
    sentence = SENTENCE.replace("آمدند.", f"آمدند ({tag}).")
    engine.replies.update(
        {
            (HEADLINE, "en"): GOOD[HEADLINE],
            (sentence, "en"): GOOD[SENTENCE].replace("year.", f"year ({tag})."),
        }
    )
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={"headline": HEADLINE, "body_text": sentence, "external_id": uuid.uuid4().hex},
        headers=system.auth("gorgan"),
    )
    assert resp.status_code == 202, resp.text
    aid = str(resp.json()["article_id"])
    _, _, event = await english(system, aid, held)
    p = event["provenance"]
    assert (p["policy"], p["held"], p["check_failures"]) == ("review", True, [])

    ingested = await read_topic(
        system.infra.kafka, Topics.INGESTED, lambda s: any(e.get("article_id") == aid for e in s)
    )
    article = IngestedArticle.model_validate(next(e for e in ingested if e["article_id"] == aid))

    async def send_back(*exclude: str) -> None:
        request = RetranslationRequest(
            article=article, language="en", exclude=list(exclude), requested_by="test-editor"
        )
        await producer.send_and_wait(
            Topics.RETRANSLATIONS, request.model_dump_json().encode(), key=aid.encode()
        )

    # sent back: the other engine translates it, and the result meets the checks and the policy
    calls = len(engine.calls)
    await send_back("libretranslate")
    _, _, again = await english(system, aid, lambda e: e["revision"] > event["revision"])
    q = again["provenance"]
    assert q["engine"] == "ctranslate2" and q["checks_version"]
    assert (q["policy"], q["held"]) == ("review", True)  # review: held whatever the checks say
    assert len(engine.calls) == calls  # the excluded engine was not asked

    # sent back without any engine left: it stays held, saying why
    await send_back("libretranslate", "ctranslate2")
    _, _, kept = await english(
        system,
        aid,
        lambda e: any(f["check"] == "sent-back" for f in e["provenance"]["check_failures"]),
    )
    [note] = [f for f in kept["provenance"]["check_failures"] if f["check"] == "sent-back"]
    assert "no other engine or model configured" in note["reason"]
    assert "test-editor" in note["reason"]
    assert kept["provenance"]["held"] is True and kept["body_html"] == again["body_html"]
    assert kept["revision"] > again["revision"]

    # an editor's own text settles it: it reaches the feed as a human translation
    await producer.send_and_wait(
        Topics.HUMAN_TRANSLATIONS,
        approval(kept, "approved", headline="Thirty million pilgrims travel"),
        key=aid.encode(),
    )
    _, _, human = await english(system, aid, lambda e: e["provenance"]["method"] == "human")
    assert human["provenance"]["review"] == "edited"  # not the held text: taken as an edit
    feed = system.url("feeds", "/feeds/gorgan/en.atom")
    wanted = entry_id(aid, "en")
    await await_feed(http, feed, lambda f: any(e.id == wanted for e in f.entries))
