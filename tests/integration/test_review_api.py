"""Held translations on the real stack: ingest's status consumer, store and desk over Kafka and
FerretDB.

An article is ingested through the API and translated (by the pseudo engine of the shared
system). Then a held English translation of it, as translate announces one whose automatic
checks failed, is produced to ``articles.translated``: ``GET /articles/{id}`` must show it held
with the reasons, the JSON and desk queues must list it for its publisher only, another
publisher's key must neither see nor act on it, and the desk's approval must put the right
:class:`HumanTranslation` on ``translations.submitted``; sending one back, the right
:class:`RetranslationRequest` on ``translations.requested``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import (
    CheckFailure,
    HumanTranslation,
    IngestedArticle,
    Provenance,
    RetranslationRequest,
    ReviewAction,
    Topics,
    TranslatedArticle,
    TranslationPolicy,
    utcnow,
)
from tests.integration.conftest import System, await_article, read_topic, send

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEADLINE = "ورود ۳۰ میلیون زائر به مشهد"
LEAD = "امسال ۳۰ میلیون زائر به مشهد سفر کردند."
EN_LEAD = "This year 3 million pilgrims travelled to Mashhad."
DROPPED = CheckFailure(
    check="numbers",
    reason="۳۰ میلیون (30 million) is missing from the translation",
    segment=1,
    source=LEAD,
    target=EN_LEAD,
    evidence=["۳۰ میلیون"],
)


async def translated_article(http: httpx.AsyncClient, system: System) -> dict[str, Any]:
    """A new article of Mashhad's, once its English machine translation is published."""
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={
            "headline": HEADLINE,
            "body_text": f"{LEAD}\n\nشهردار از مردم تشکر کرد.",
            "external_id": uuid.uuid4().hex,
        },
        headers=system.auth("mashhad"),
    )
    assert resp.status_code == 202, resp.text
    ident = resp.json()["article_id"]
    return await await_article(  # type: ignore[no-any-return]
        system,
        http,
        "mashhad",
        ident,
        lambda a: all(a["languages"][x]["status"] == "published" for x in ("en", "ar")),
    )


def held(shown: dict[str, Any], language: str) -> TranslatedArticle:
    """The held translation translate would announce for this article (one revision on)."""
    article = IngestedArticle.model_validate(shown["article"])
    return TranslatedArticle(
        **article.model_dump(include={"article_id", "version", "publisher", "published"}),
        language=language,
        source_language=article.language,
        headline="30 million pilgrims arrive in Mashhad",
        body_html=f"<p>{EN_LEAD}</p><p>The mayor thanked the people.</p>",
        revision=shown["languages"][language]["revision"] + 1,
        provenance=Provenance(
            engine="libretranslate",
            model="opus-mt-fa-en",
            translated_at=utcnow(),
            checks_version="1",
            check_failures=[DROPPED],
            needs_review=True,
            policy=TranslationPolicy.HOLD,
            held=True,
        ),
    )


@asynccontextmanager
async def desk_session(
    system: System, publisher: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A desk session of ``publisher``'s editor (its own cookie jar) and its CSRF token."""
    async with httpx.AsyncClient(timeout=30, base_url=system.url("ingest")) as client:
        signed = await client.post("/desk/login", data={"key": system.keys[publisher]})
        assert signed.status_code == 303, signed.text
        page = await client.get("/desk/compose")
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert found, page.text
        yield client, found.group(1)


async def test_a_held_translation_is_shown_queued_and_approved(
    http: httpx.AsyncClient, system: System, producer: AIOKafkaProducer
) -> None:
    shown = await translated_article(http, system)
    ident = shown["article_id"]
    event = held(shown, "en")
    await send(producer, Topics.TRANSLATED, event.model_dump(mode="json"), key=ident)

    state = await await_article(
        system, http, "mashhad", ident, lambda a: a["languages"]["en"]["status"] == "held"
    )
    en = state["languages"]["en"]
    assert (en["engine"], en["model"]) == ("libretranslate", "opus-mt-fa-en")
    assert [CheckFailure.model_validate(r) for r in en["reasons"]] == [DROPPED]
    assert state["languages"]["ar"]["status"] == "published"  # the other languages go out

    queue = await http.get(
        system.url("ingest", "/review?language=en"), headers=system.auth("mashhad")
    )
    assert [(q["article_id"], q["kind"]) for q in queue.json() if q["article_id"] == ident] == [
        (ident, "held")
    ]
    # Another publisher's key sees nothing of it.
    tehran = system.auth("tehran")
    assert all(
        q["article_id"] != ident
        for q in (await http.get(system.url("ingest", "/review"), headers=tehran)).json()
    )
    assert (
        await http.get(system.url("ingest", f"/articles/{ident}"), headers=tehran)
    ).status_code == 404

    async with (
        desk_session(system, "mashhad") as (desk, csrf),
        desk_session(system, "tehran") as (other, other_csrf),
    ):
        listed = await desk.get("/desk/review")
        assert f'data-article="{ident}" data-lang="en"' in listed.text
        page = await desk.get(f"/desk/review/{ident}/en")
        assert "امسال <mark>۳۰ میلیون</mark> زائر" in page.text
        assert f'data-article="{ident}"' not in (await other.get("/desk/review")).text
        assert (await other.get(f"/desk/review/{ident}/en")).status_code == 404
        refused = await other.post(f"/desk/review/{ident}/en/approve", data={"csrf": other_csrf})
        assert refused.status_code == 404

        approved = await desk.post(f"/desk/review/{ident}/en/approve", data={"csrf": csrf})
        assert approved.status_code == 303, approved.text

    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["article_id"] == ident and r["language"] == "en"]

    records = await read_topic(
        system.infra.kafka, Topics.HUMAN_TRANSLATIONS, lambda rs: bool(mine(rs))
    )
    [human] = [HumanTranslation.model_validate(r) for r in mine(records)]  # not the refused one
    assert human.review is ReviewAction.APPROVED
    assert (human.headline, human.body_html, human.version) == (
        event.headline,
        event.body_html,
        event.version,
    )
    assert human.translated_by.startswith("test-editor")

    # Translate publishes it as reviewed; the language is published again, the queue is empty.
    done = await await_article(
        system,
        http,
        "mashhad",
        ident,
        lambda a: (
            a["languages"]["en"]["status"] == "published" and a["languages"]["en"]["reviewed"]
        ),
    )
    # Translate never held this one itself (the test produced the held event), so it takes the
    # approval as the editor's text; the browser test (tests/e2e/test_review_queue.py) follows
    # a translation translate held through to "approved".
    assert done["languages"]["en"]["review"] in ("approved", "edited")
    review = system.url("ingest", "/review")
    async with asyncio.timeout(30):
        while True:  # the status consumer updates the head, then the queue
            queue = (await http.get(review, headers=system.auth("mashhad"))).json()
            if all(q["article_id"] != ident for q in queue):
                break
            await asyncio.sleep(0.1)  # poll interval while waiting for the event


async def test_sending_back_asks_translate_for_another_engine(
    http: httpx.AsyncClient, system: System, producer: AIOKafkaProducer
) -> None:
    shown = await translated_article(http, system)
    ident = shown["article_id"]
    await send(producer, Topics.TRANSLATED, held(shown, "ar").model_dump(mode="json"), key=ident)
    await await_article(
        system, http, "mashhad", ident, lambda a: a["languages"]["ar"]["status"] == "held"
    )
    async with desk_session(system, "mashhad") as (desk, csrf):
        sent = await desk.post(f"/desk/review/{ident}/ar/send-back", data={"csrf": csrf})
        assert sent.status_code == 303, sent.text
        again = await desk.post(f"/desk/review/{ident}/ar/send-back", data={"csrf": csrf})
        assert again.status_code in (404, 409)  # settled already (or gone from the queue)

    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["article"]["article_id"] == ident]

    records = await read_topic(system.infra.kafka, Topics.RETRANSLATIONS, lambda rs: bool(mine(rs)))
    [request] = [RetranslationRequest.model_validate(r) for r in mine(records)]
    assert (request.language, request.article.article_id) == ("ar", ident)
    assert request.article == IngestedArticle.model_validate(shown["article"])
    assert request.exclude == ["libretranslate", "opus-mt-fa-en"]
