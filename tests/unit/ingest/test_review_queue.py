"""The review queue without infrastructure: the real :class:`ArticleStore`, :class:`Editors` and
desk routes over an in-memory stand-in for the database (point reads, equality filters, as
FerretDB serves them) and a broker that records what is published. The real database and
Kafka are in tests/integration/test_review_api.py, the browser in tests/e2e/test_review_queue.py.

The story: a Persian article whose English machine translation dropped a figure ("۳۰ میلیون
زائر" became "3 million pilgrims") is held; the editor finds it in the queue, sees the figure
marked in the source beside the machine text, and approves it, edits it or sends it back.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.ingest import api, desk
from services.ingest.article import PreparedVersion, prepare
from services.ingest.desk.review_text import Span, locate, side_by_side, spans
from services.ingest.desk.sessions import DeskSessions, Lifetimes
from services.ingest.settings import IngestSettings
from services.ingest.store import ArticleStore, language_state, review_kind
from shared.contracts import (
    ArticleStatus,
    CheckFailure,
    HumanTranslation,
    IngestedArticle,
    Provenance,
    RetranslationRequest,
    ReviewAction,
    SubmittedArticle,
    Topics,
    TranslatedArticle,
    TranslationMethod,
    TranslationPolicy,
)
from shared.registry import EditorKey, Publisher, key_digest

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HEADLINE = "ورود ۳۰ میلیون زائر به مشهد"
LEAD = "امسال ۳۰ میلیون زائر به مشهد سفر کردند."
SECOND = "شهردار از مردم تشکر کرد."
EN_HEADLINE = "30 million pilgrims arrive in Mashhad"
EN_LEAD = "This year 3 million pilgrims travelled to Mashhad."
EN_SECOND = "The mayor thanked the people."
DROPPED = CheckFailure(
    check="numbers",
    reason="۳۰ میلیون (30 million) is missing from the translation",
    segment=1,
    source=LEAD,
    target=EN_LEAD,
    evidence=["۳۰ میلیون"],
)
PUBLISHERS = {
    "mashhad": Publisher(id="mashhad", name="Mashhad", translate_to=["en", "ar"]),
    "tehran": Publisher(id="tehran", name="Tehran", translate_to=["en", "ar"]),
}
KEYS = {
    "mashhad-key": EditorKey(id="k_1", publisher="mashhad", name="desk"),
    "tehran-key": EditorKey(id="k_2", publisher="tehran", name="other"),
    "mashhad-submit-only": EditorKey(id="k_3", publisher="mashhad", name="bot", scopes=["submit"]),
}


# --------------------------------------------------------------------------- the stand-ins


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for field, wanted in query.items():
        value = doc.get(field)
        if isinstance(wanted, dict) and "$lt" in wanted:
            if not (value is not None and value < wanted["$lt"]):
                return False
        elif isinstance(wanted, dict) and "$in" in wanted:
            if value not in wanted["$in"]:
                return False
        elif value != wanted:
            return False
    return True


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        doc = doc.setdefault(name, {})
    doc[last] = copy.deepcopy(value)


def _value(doc: dict[str, Any], field: str) -> Any:
    return doc[field]


class Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, keys: list[tuple[str, int]]) -> Cursor:
        for field, direction in reversed(keys):
            self.docs.sort(key=partial(_value, field=field), reverse=direction < 0)
        return self

    def limit(self, n: int) -> Cursor:
        self.docs = self.docs[:n]
        return self

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self.docs:
            yield copy.deepcopy(doc)


class MemoryCollection:
    """The calls the ingest store and the desk sessions make, on a dict (no projections)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any], *_: Any) -> dict[str, Any] | None:
        found = [d for d in self.docs.values() if _matches(d, query)]
        return copy.deepcopy(found[0]) if found else None

    def find(self, query: dict[str, Any], *_: Any, **__: Any) -> Cursor:
        return Cursor([d for d in self.docs.values() if _matches(d, query)])

    async def insert_one(self, doc: dict[str, Any]) -> None:
        assert doc["_id"] not in self.docs
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> None:
        for doc in docs:
            await self.insert_one(doc)

    async def replace_one(self, query: dict[str, Any], doc: dict[str, Any], upsert: bool) -> None:
        self.docs[query["_id"]] = copy.deepcopy({**doc, "_id": query["_id"]})

    async def update_one(self, query: dict[str, Any], change: dict[str, Any]) -> None:
        for doc in self.docs.values():
            if _matches(doc, query):
                for path, value in change["$set"].items():
                    _set(doc, path, value)
                return

    async def delete_one(self, query: dict[str, Any]) -> None:
        for ident in [i for i, d in self.docs.items() if _matches(d, query)][:1]:
            del self.docs[ident]

    async def delete_many(self, query: dict[str, Any]) -> None:
        for ident in [i for i, d in self.docs.items() if _matches(d, query)]:
            del self.docs[ident]


class MemoryDB(dict[str, MemoryCollection]):
    def __missing__(self, name: str) -> MemoryCollection:
        self[name] = MemoryCollection(name)
        return self[name]


class Registry:
    async def editor_key(self, token: str) -> EditorKey | None:
        return await self.editor_key_for_digest(key_digest(token))

    async def editor_key_for_digest(self, digest: str) -> EditorKey | None:
        return {key_digest(t): k for t, k in KEYS.items()}.get(digest)

    async def publisher(self, publisher_id: str) -> Publisher | None:
        return PUBLISHERS.get(publisher_id)

    async def target_languages(self, publisher_id: str) -> list[str]:
        found = PUBLISHERS.get(publisher_id)
        return list(found.translate_to) if found else []

    async def feed_languages(self, publisher_id: str) -> list[str]:
        found = PUBLISHERS.get(publisher_id)
        return found.feed_languages if found else []

    async def unknown_publisher_reason(self, publisher_id: str) -> str:
        return f"unknown publisher {publisher_id!r}"


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, message: dict[str, Any], *, topic: str, **_: Any) -> None:
        self.sent.append((topic, message))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [m for t, m in self.sent if t == topic]


# --------------------------------------------------------------------------- the story


def source_article(publisher: str = "mashhad", version: int = 1) -> IngestedArticle:
    sub = SubmittedArticle(
        publisher=publisher,
        headline=HEADLINE,
        body_text=f"{LEAD}\n\n{SECOND}",
        external_id="5001",
        published="2026-03-01T12:30:00+03:30",
    )
    prepared = prepare(sub, PUBLISHERS[publisher], T0)
    assert isinstance(prepared, PreparedVersion)
    return IngestedArticle(
        article_id=prepared.article_id,
        version=version,
        content_hash=prepared.content_hash,
        ingested_at=T0,
        **prepared.content,
    )


def translated(
    article: IngestedArticle,
    *,
    language: str = "en",
    revision: int = 1,
    held: bool = True,
    failures: tuple[CheckFailure, ...] = (DROPPED,),
    policy: TranslationPolicy = TranslationPolicy.HOLD,
    minutes: int = 0,
    **provenance: Any,
) -> TranslatedArticle:
    return TranslatedArticle(
        **article.model_dump(include={"article_id", "version", "publisher", "published"}),
        language=language,
        source_language="fa",
        headline=EN_HEADLINE,
        body_html=f"<p>{EN_LEAD}</p><p>{EN_SECOND}</p>",
        revision=revision,
        provenance=Provenance(
            engine="libretranslate",
            model="opus-mt-fa-en",
            translated_at=T0 + timedelta(minutes=minutes),
            checks_version="1",
            check_failures=list(failures),
            needs_review=bool(failures),
            policy=policy,
            held=held,
            **provenance,
        ),
    )


async def stored(store: ArticleStore, article: IngestedArticle) -> None:
    """The article as ingest stores it: its version, then its head."""
    await store.insert_versions([(article, None)], T0)
    head = await store.articles.find_one({"_id": article.article_id})
    fields = {
        "publisher": article.publisher,
        "headline": article.headline,
        "status": "active",
        "version": article.version,
        "announced_version": article.version,
        "updated_at": T0,
    }
    if head is None:
        await store.articles.insert_one({"_id": article.article_id, **fields})
    else:
        await store.articles.update_one({"_id": article.article_id}, {"$set": fields})


@pytest.fixture
def world() -> SimpleNamespace:
    db, broker = MemoryDB(), Broker()
    store = ArticleStore(db)  # type: ignore[arg-type]
    rt = SimpleNamespace(registry=Registry(), broker=broker, log=logging.getLogger("test"))
    app = FastAPI()
    editors = api.install(app, rt, store, IngestSettings(), None)  # type: ignore[arg-type]
    lifetimes = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    sessions = DeskSessions(db["desk_sessions"], lifetimes, Registry().editor_key_for_digest)  # type: ignore[arg-type]
    desk.install(app, editors, sessions=sessions)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://desk.test",
        headers={"Accept-Language": "en"},  # the publisher's Persian is the default otherwise
    )
    return SimpleNamespace(client=client, store=store, broker=broker, db=db)


async def sign_in(client: httpx.AsyncClient, key: str = "mashhad-key") -> str:
    resp = await client.post("/desk/login", data={"key": key, "next": "/desk/articles"})
    assert resp.status_code == 303, resp.text
    page = await client.get("/desk/compose")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def held_story(world: SimpleNamespace) -> tuple[IngestedArticle, TranslatedArticle]:
    article = source_article()
    await stored(world.store, article)
    event = translated(article)
    await world.store.record_translations([event])
    return article, event


# --------------------------------------------------------------------------- pure rules


def test_what_an_editor_is_asked_to_look_at() -> None:
    article = source_article()
    assert review_kind(translated(article)) == "held"
    published = translated(article, held=False, policy=TranslationPolicy.PUBLISH)
    assert review_kind(published) == "flagged"
    assert review_kind(translated(article, held=False, failures=())) is None
    withdrawn = translated(article).model_copy(update={"status": ArticleStatus.WITHDRAWN})
    assert review_kind(withdrawn) is None
    approved = translated(article, held=False, reviewed=True, review=ReviewAction.APPROVED)
    assert review_kind(approved) is None
    human = translated(article, held=False, failures=(), method=TranslationMethod.HUMAN)
    assert review_kind(human) is None
    # Under the policy `review` every machine translation waits, even one that passed.
    assert review_kind(translated(article, failures=(), policy=TranslationPolicy.REVIEW)) == "held"


def test_a_held_language_reads_held_with_its_reasons_and_an_approved_one_reviewed() -> None:
    article = source_article()
    held = language_state(translated(article))
    assert held["status"] == "held" and held["engine"] == "libretranslate"
    assert held["check_failures"][0]["evidence"] == ["۳۰ میلیون"]
    approved = language_state(
        translated(
            article, revision=2, held=False, reviewed=True, review=ReviewAction.APPROVED,
            reviewed_by="desk (k_1)",
        )
    )  # fmt: skip
    assert (approved["status"], approved["reviewed"], approved["review"]) == (
        "published",
        True,
        "approved",
    )


def test_the_missing_figure_is_marked_in_its_source_paragraph() -> None:
    rows, unplaced = side_by_side(
        HEADLINE, f"<p>{LEAD}</p><p>{SECOND}</p>", EN_HEADLINE,
        f"<p>{EN_LEAD}</p><p>{EN_SECOND}</p>", [DROPPED],
    )  # fmt: skip
    assert unplaced == []
    assert [r.index for r in rows] == [0, 1, 2]  # the headline, then paragraphs 1 and 2
    assert rows[1].source == (
        Span("امسال "),
        Span("۳۰ میلیون", marked=True),
        Span(" زائر به مشهد سفر کردند."),
    )
    assert rows[1].target == EN_LEAD and rows[1].failures == (DROPPED,)
    assert rows[0].failures == () and rows[2].source == (Span(SECOND),)


def test_marks_survive_spacing_and_zwnj_changes_and_unfound_failures_are_kept() -> None:
    # The check saw the text after ZWNJ restoration; the stored article lacks one.
    checked = "بین‌المللی"
    assert spans("همایش بینالمللی شهرها", [checked]) == (
        Span("همایش "),
        Span("بینالمللی", marked=True),
        Span(" شهرها"),
    )
    no_evidence = CheckFailure(check="length", reason="too short", segment=2, source=SECOND)
    assert locate(no_evidence, [HEADLINE, LEAD, "  شهردار از  مردم تشکر کرد. "]) == 2
    lost = CheckFailure(check="repetition", reason="a loop", segment=7, source="جمله‌ای دیگر")
    headline = CheckFailure(check="script", reason="Persian left", segment=0, source=HEADLINE)
    rows, unplaced = side_by_side(HEADLINE, f"<p>{LEAD}</p>", "x", "<p>y</p>", [lost, headline])
    assert [u.failure for u in unplaced] == [lost]
    assert rows[0].failures == (headline,) and rows[0].source == (Span(HEADLINE, marked=True),)


# --------------------------------------------------------------------------- the store


async def test_the_queue_follows_the_translation_events(world: SimpleNamespace) -> None:
    store = world.store
    article, event = await held_story(world)
    [entry] = await store.review_queue("mashhad")
    assert (entry.kind, entry.checks, entry.translation) == ("held", ["numbers"], event)
    assert await store.review_count("mashhad") == 1 and await store.review_queue("tehran") == []

    # The same event again keeps what the editor did; an older one changes nothing.
    await store.mark_step(entry, "approved", "desk (k_1)")
    await store.record_translations([event])
    assert (await store.queued(article.article_id, "en")).step == "approved"
    assert await store.review_count("mashhad") == 0  # decided: no longer counted as waiting

    # The approved translation comes back from translate: the entry leaves the queue...
    reviewed = translated(
        article, revision=2, held=False, reviewed=True, review=ReviewAction.APPROVED
    )
    await store.record_translations([reviewed])
    assert await store.review_queue("mashhad") == []
    # ...and a late copy of the held event does not bring it back.
    await store.record_translations([event])
    assert await store.review_queue("mashhad") == []
    head, _ = await store.article(article.article_id)
    assert head is not None and head["languages"]["en"]["review"] == "approved"


async def test_the_queue_lists_the_newest_first_per_language(world: SimpleNamespace) -> None:
    store = world.store
    first, second = source_article(), source_article().model_copy(update={"article_id": "b"})
    for a in (first, second):
        await stored(store, a)
    await store.record_translations([translated(first, minutes=1)])
    await store.record_translations([translated(second, minutes=5)])
    flagged = translated(first, language="ar", held=False, policy=TranslationPolicy.PUBLISH)
    await store.record_translations([flagged])
    assert [(e.article_id, e.language) for e in await store.review_queue("mashhad")] == [
        ("b", "en"),
        (first.article_id, "en"),
        (first.article_id, "ar"),
    ]
    [arabic] = await store.review_queue("mashhad", "ar")
    assert arabic.kind == "flagged"
    # A clean translation of a language replaces its entry.
    await store.record_translations([translated(second, revision=2, held=False, failures=())])
    assert [e.article_id for e in await store.review_queue("mashhad", "en")] == [first.article_id]


# --------------------------------------------------------------------------- the API and desk


async def test_get_article_shows_held_with_the_reasons(world: SimpleNamespace) -> None:
    article, _ = await held_story(world)
    headers = {"Authorization": "Bearer mashhad-key"}
    shown = (await world.client.get(f"/articles/{article.article_id}", headers=headers)).json()
    en = shown["languages"]["en"]
    assert (en["status"], en["engine"], en["model"]) == ("held", "libretranslate", "opus-mt-fa-en")
    assert en["reasons"][0]["check"] == "numbers" and en["reasons"][0]["evidence"] == ["۳۰ میلیون"]
    assert shown["languages"]["ar"] == {"status": "pending"}
    queue = (await world.client.get("/review", headers=headers)).json()
    assert [(q["article_id"], q["kind"]) for q in queue] == [(article.article_id, "held")]
    other = await world.client.get("/review", headers={"Authorization": "Bearer tehran-key"})
    assert other.json() == []


async def test_the_desk_queue_and_the_side_by_side_page(world: SimpleNamespace) -> None:
    article, _ = await held_story(world)
    await sign_in(world.client)
    queue = await world.client.get("/desk/review")
    assert queue.status_code == 200, queue.text
    assert ">Review (1)</a>" in queue.text  # the menu counts what waits
    row = re.search(
        rf'<tr data-article="{article.article_id}" data-lang="en">.*?</tr>', queue.text, re.S
    )
    assert row and "held" in row.group(0) and ">numbers<" in row.group(0)
    assert f'<span class="source-headline" lang="fa" dir="rtl">{HEADLINE}</span>' in row.group(0)
    assert (
        "Nothing waits for review in Arabic"
        in (await world.client.get("/desk/review?language=ar")).text
    )

    page = await world.client.get(f"/desk/review/{article.article_id}/en")
    assert page.status_code == 200
    assert (
        '<td class="source-segment" lang="fa" dir="rtl">امسال <mark>۳۰ میلیون</mark> زائر'
        in page.text
    )
    assert f'<td class="machine-segment" lang="en" dir="ltr">{EN_LEAD}</td>' in page.text
    assert "<bdi>۳۰ میلیون</bdi> (30 million) is missing from the translation" in page.text
    for button in ("Approve as is", "Send back for another engine", "Approve my edit"):
        assert f">{button}</button>" in page.text
    assert (
        '<textarea id="r-body" name="body" class="tall" required lang="en" dir="ltr"' in page.text
    )
    article_page = await world.client.get(f"/desk/articles/{article.article_id}")
    assert "failed: numbers" in article_page.text
    assert (
        f'href="/desk/review/{article.article_id}/en">Review the held translation'
        in article_page.text
    )


async def test_the_queue_in_persian_names_the_checks_and_parts_in_persian(
    world: SimpleNamespace,
) -> None:
    article, _ = await held_story(world)
    await sign_in(world.client)
    fa = {"Accept-Language": "fa"}
    queue = (await world.client.get("/desk/review", headers=fa)).text
    assert '<html lang="fa" dir="rtl">' in queue and "<h1>صف بازبینی</h1>" in queue
    row = re.search(
        rf'<tr data-article="{article.article_id}" data-lang="en">.*?</tr>', queue, re.S
    )
    assert row and '<span class="status status-failed">نگه\u200cداشته</span>' in row.group(0)
    assert '<td class="checks">اعداد</td>' in row.group(0)  # the check "numbers"
    assert "نسخهٔ ۱" in row.group(0) and "۱۰ اسفند ۱۴۰۴" in row.group(0)  # a Jalali date
    assert '<h2 id="queue-en">انگلیسی <span class="hint">(۱)</span></h2>' in queue
    page = (await world.client.get(f"/desk/review/{article.article_id}/en", headers=fa)).text
    assert '<th scope="row">تیتر</th>' in page and '<th scope="row">بند ۱</th>' in page
    assert '<strong>اعداد</strong>: <bdi lang="en" dir="ltr"><bdi>۳۰ میلیون</bdi>' in page
    assert ">تأیید همین متن</button>" in page
    empty = (await world.client.get("/desk/review?language=ar", headers=fa)).text
    assert "در زبان عربی چیزی در انتظار بازبینی نیست." in empty


async def test_approving_as_is_publishes_the_machine_text_as_reviewed(
    world: SimpleNamespace,
) -> None:
    article, event = await held_story(world)
    csrf = await sign_in(world.client)
    path = f"/desk/review/{article.article_id}/en"
    done = await world.client.post(f"{path}/approve", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/desk/review?done=approved"
    [sent] = world.broker.on(Topics.HUMAN_TRANSLATIONS)
    human = HumanTranslation.model_validate(sent)
    assert (human.review, human.headline, human.body_html) == (
        ReviewAction.APPROVED, event.headline, event.body_html,
    )  # fmt: skip
    assert (human.version, human.language, human.translated_by) == (1, "en", "desk (k_1)")
    listed = await world.client.get("/desk/review?done=approved")
    assert "Approved: it goes out" in listed.text and "leaving the queue" in listed.text
    assert ">Review (0)</a>" in listed.text
    again = await world.client.post(f"{path}/approve", data={"csrf": csrf})
    assert again.status_code == 409 and "already" in again.text
    assert len(world.broker.on(Topics.HUMAN_TRANSLATIONS)) == 1


async def test_editing_then_approving_publishes_the_editors_text(world: SimpleNamespace) -> None:
    article, _ = await held_story(world)
    csrf = await sign_in(world.client)
    path = f"/desk/review/{article.article_id}/en/edit"
    empty = await world.client.post(path, data={"csrf": csrf, "headline": "", "body": "x"})
    assert empty.status_code == 422 and world.broker.sent == []
    fixed = "This year 30 million pilgrims travelled to Mashhad.\n\nThe mayor thanked the people."
    done = await world.client.post(
        path, data={"csrf": csrf, "headline": EN_HEADLINE, "body": fixed}
    )
    assert done.status_code == 303
    human = HumanTranslation.model_validate(world.broker.on(Topics.HUMAN_TRANSLATIONS)[0])
    assert human.review is ReviewAction.EDITED
    assert human.body_html == (
        "<p>This year 30 million pilgrims travelled to Mashhad.</p>"
        "<p>The mayor thanked the people.</p>"
    )


async def test_sending_back_asks_for_another_engine(world: SimpleNamespace) -> None:
    article, _ = await held_story(world)
    csrf = await sign_in(world.client)
    done = await world.client.post(
        f"/desk/review/{article.article_id}/en/send-back", data={"csrf": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == "/desk/review?done=sent-back"
    [sent] = world.broker.on(Topics.RETRANSLATIONS)
    request = RetranslationRequest.model_validate(sent)
    assert request.article == article and request.language == "en"
    assert request.exclude == ["libretranslate", "opus-mt-fa-en"]
    assert request.requested_by == "desk (k_1)"


async def test_a_newer_version_makes_the_held_one_stale(world: SimpleNamespace) -> None:
    article, _ = await held_story(world)
    await stored(world.store, source_article(version=2))
    csrf = await sign_in(world.client)
    path = f"/desk/review/{article.article_id}/en"
    assert "replaced by version 2" in (await world.client.get(path)).text
    for action in ("approve", "send-back"):
        refused = await world.client.post(f"{path}/{action}", data={"csrf": csrf})
        assert refused.status_code == 409 and "version 2" in refused.text, action
    assert world.broker.sent == []


async def test_only_the_publishers_signed_in_translators_can_decide(
    world: SimpleNamespace,
) -> None:
    article, _ = await held_story(world)
    path = f"/desk/review/{article.article_id}/en"
    anonymous = await world.client.get(path)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/desk/login")
    assert (await world.client.post(f"{path}/approve", data={})).status_code == 401

    csrf = await sign_in(world.client, "tehran-key")  # another publisher: as if it did not exist
    assert (await world.client.get(path)).status_code == 404
    assert (await world.client.post(f"{path}/approve", data={"csrf": csrf})).status_code == 404
    assert "Review (0)" in (await world.client.get("/desk/review")).text

    csrf = await sign_in(world.client, "mashhad-submit-only")
    refused = await world.client.post(f"{path}/approve", data={"csrf": csrf})
    assert refused.status_code == 403 and "lacks the &#39;translate&#39; scope" in refused.text

    await sign_in(world.client)
    forged = await world.client.post(f"{path}/approve", data={"csrf": "0" * 40})
    assert forged.status_code == 403 and "not from this desk" in forged.text
    other_site = await world.client.post(
        f"{path}/send-back", data={"csrf": csrf}, headers={"Origin": "https://evil.test"}
    )
    assert other_site.status_code == 403
    assert world.broker.sent == []


def test_a_persian_figure_in_an_english_reason_keeps_its_reading_order() -> None:
    """Without isolation "۳۰ میلیون" in an English sentence is laid out left to right, so a
    Persian reader sees "million 30"."""
    from services.ingest.desk.review_text import isolate_rtl

    reason = "figures of the source missing from the translation: ۳۰ میلیون, <b>"
    assert str(isolate_rtl(reason)) == (
        "figures of the source missing from the translation: <bdi>۳۰ میلیون</bdi>, &lt;b&gt;"
    )
    assert str(isolate_rtl("no Persian here")) == "no Persian here"


async def test_a_batch_of_events_keeps_the_newest_of_each_language(world: SimpleNamespace) -> None:
    """The status consumer takes events in batches: the languages of an article land together,
    and an older event in the same batch (read out of order) changes nothing."""
    store = world.store
    article = source_article()
    await stored(store, article)
    held = translated(article, minutes=1)
    approved = translated(
        article, revision=2, held=False, reviewed=True, review=ReviewAction.APPROVED
    )
    flagged = translated(article, language="ar", held=False, policy=TranslationPolicy.PUBLISH)
    await store.record_translations([approved, flagged, held])
    head, _ = await store.article(article.article_id)
    assert head is not None
    assert head["languages"]["en"]["review"] == "approved"
    assert head["languages"]["en"]["revision"] == 2
    assert "ar" in head["languages"]
    assert [(e.language, e.kind) for e in await store.review_queue("mashhad")] == [
        ("ar", "flagged")
    ]
