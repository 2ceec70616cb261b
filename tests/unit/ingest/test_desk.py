"""The editor desk's pages without infrastructure: signing in (server-side sessions with an idle
and an absolute lifetime, on an injected clock), refusals, CSRF, escaping, RTL attributes and
Jalali dates, over the same :class:`Editors` the JSON API uses (fakes behind it; the feeds
service answered by a mock transport)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from pymongo.errors import AutoReconnect

from services.ingest import api, desk
from services.ingest.article import PreparedVersion, prepare
from services.ingest.desk.pages import LOCALES, templates
from services.ingest.desk.sessions import DeskSessions, Lifetimes
from services.ingest.settings import IngestSettings
from shared.contracts import IngestedArticle, SubmittedArticle
from shared.i18n import Ui
from shared.registry import EditorKey, Publisher, key_digest

SAMPLE = Path(__file__).parents[2] / "fixtures" / "samples"
TEHRAN = Publisher(id="tehran", name="Tehran", translate_to=["en", "ar"])
KEYS = {
    "tehran-key": EditorKey(id="k_1", publisher="tehran", name="desk"),
    "tehran-submit-only": EditorKey(id="k_2", publisher="tehran", name="bot", scopes=["submit"]),
}
T0 = datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC)


class FakeRegistry:
    def __init__(self) -> None:
        self.revoked: set[str] = set()

    async def editor_key(self, token: str) -> EditorKey | None:
        return await self.editor_key_for_digest(key_digest(token))

    async def editor_key_for_digest(self, digest: str) -> EditorKey | None:
        found = {key_digest(t): k for t, k in KEYS.items() if t not in self.revoked}
        return found.get(digest)

    async def publisher(self, publisher_id: str) -> Publisher | None:
        return TEHRAN if publisher_id == "tehran" else None

    async def target_languages(self, publisher_id: str) -> list[str]:
        return ["en", "ar"] if publisher_id == "tehran" else []

    async def unknown_publisher_reason(self, publisher_id: str) -> str:
        return f"unknown publisher {publisher_id!r}"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeSessions:
    """The ``desk_sessions`` collection in memory: point reads only, as FerretDB indexes."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        assert set(query) == {"_id"}, query
        doc = self.docs.get(query["_id"])
        return dict(doc) if doc else None

    async def insert_one(self, doc: dict[str, Any]) -> None:
        assert doc["_id"] not in self.docs
        self.docs[doc["_id"]] = dict(doc)

    async def update_one(self, query: dict[str, Any], change: dict[str, Any]) -> None:
        if query["_id"] in self.docs:
            self.docs[query["_id"]].update(change["$set"])

    async def delete_one(self, query: dict[str, Any]) -> None:
        self.docs.pop(query["_id"], None)

    async def delete_many(self, query: dict[str, Any]) -> None:
        before = query["expires_at"]["$lt"]
        for ident in [i for i, d in self.docs.items() if d["expires_at"] < before]:
            del self.docs[ident]


class FakeBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, message: dict[str, Any], *, topic: str, **_: Any) -> None:
        self.sent.append((topic, message))


class FakeStore:
    """One stored article, version 1, published in English by the machine."""

    async def review_count(self, publisher: str) -> int:
        return 0

    def __init__(self, event: IngestedArticle) -> None:
        self.event = event
        self.head = {
            "_id": event.article_id,
            "publisher": "tehran",
            "headline": event.headline,
            "version": 1,
            "status": "active",
            "announced_version": 1,
            "updated_at": T0,
            "languages": {
                "en": {"version": 1, "status": "published", "method": "machine", "engine": "pseudo"}
            },
        }

    async def exists(self, article_id: str) -> bool:
        return article_id == self.event.article_id

    async def latest(self, article_id: str) -> IngestedArticle | None:
        return self.event if article_id == self.event.article_id else None

    async def recent(self, publisher: str, limit: int) -> list[dict[str, Any]]:
        return [self.head] if publisher == "tehran" else []

    async def article(self, article_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if article_id != self.event.article_id:
            return None, []
        version = {"version": 1, "content_hash": "h", "event": self.event.model_dump()}
        return self.head, [version]


def stored_article() -> IngestedArticle:
    sub = SubmittedArticle(
        publisher="tehran",
        headline="مترو <b>تهران</b> به شمال رسید",
        body_text="خط هفت مترو افتتاح شد.\n\nمسافران استقبال کردند.",
        external_id="9001",
        published="2025-04-29T07:21:53+03:30",
        subjects=["city diplomacy"],
    )
    prepared = prepare(sub, TEHRAN, T0)
    assert isinstance(prepared, PreparedVersion)
    return IngestedArticle(
        article_id=prepared.article_id,
        version=1,
        content_hash=prepared.content_hash,
        ingested_at=T0,
        **prepared.content,
    )


def feeds_answer(request: httpx.Request) -> httpx.Response:
    """The feeds service's entry endpoint: an English machine translation, nothing in Arabic."""
    if request.url.path.endswith("/en.json"):
        return httpx.Response(
            200,
            json={
                "article_id": request.url.path.split("/")[2],
                "language": "en",
                "version": 1,
                "headline": "Tehran metro <reaches> the north",
                "body_html": "<p>Line seven opened.</p><p>Riders welcomed it.</p>",
                "published": "2025-04-29T03:51:53",
                "provenance": {"method": "machine", "engine": "pseudo"},
            },
        )
    return httpx.Response(404, json={"error": "not found", "reason": "no entry"})


@pytest.fixture
def world() -> SimpleNamespace:
    event = stored_article()
    broker, store = FakeBroker(), FakeStore(event)
    registry, clock, stored = FakeRegistry(), Clock(), FakeSessions()
    rt = SimpleNamespace(registry=registry, broker=broker, log=logging.getLogger("test"))
    app = FastAPI()
    editors = api.install(app, rt, store, IngestSettings(), None)  # type: ignore[arg-type]
    lifetimes = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    sessions = DeskSessions(stored, lifetimes, registry.editor_key_for_digest, clock)  # type: ignore[arg-type]
    desk.install(app, editors, transport=httpx.MockTransport(feeds_answer), sessions=sessions)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://desk.test",
        headers={"Accept-Language": "en"},  # the publisher's Persian is the default otherwise
    )
    return SimpleNamespace(
        client=client,
        broker=broker,
        store=store,
        article=event,
        clock=clock,
        sessions=stored,
        registry=registry,
    )


async def sign_in(client: httpx.AsyncClient, key: str = "tehran-key") -> str:
    """Sign in; the CSRF token of the session."""
    resp = await client.post("/desk/login", data={"key": key, "next": "/desk/articles"})
    assert resp.status_code == 303, resp.text
    page = await client.get("/desk/compose")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_without_a_key_the_pages_ask_to_sign_in(world: SimpleNamespace) -> None:
    resp = await world.client.get("/desk/articles")
    assert resp.status_code == 303 and resp.headers["location"] == "/desk/login?next=/desk/articles"
    login = await world.client.get("/desk/login")
    assert login.status_code == 200
    assert '<label for="key">Editor key</label>' in login.text and 'id="key"' in login.text
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert "after 30 minutes without using the desk, or 12 hours after signing in" in login.text
    posted = await world.client.post("/desk/compose", data={"content": "x"})
    assert posted.status_code == 401 and "sign in with your editor key" in posted.text
    assert world.broker.sent == []


async def test_sign_in_keeps_a_session_id_not_the_key_in_a_strict_http_only_desk_cookie(
    world: SimpleNamespace,
) -> None:
    wrong = await world.client.post("/desk/login", data={"key": "nope"})
    assert wrong.status_code == 401
    assert "this editor key is not valid (unknown or revoked)" in wrong.text
    ok = await world.client.post("/desk/login", data={"key": "tehran-key", "next": "//evil.test"})
    assert ok.status_code == 303 and ok.headers["location"] == "/desk/articles"  # no open redirect
    cookie = ok.headers["set-cookie"]
    for part in ("desk_session=", "HttpOnly", "Path=/desk", "SameSite=strict", "Max-Age=43200"):
        assert part in cookie, cookie
    assert "tehran-key" not in cookie and "tehran-key" not in ok.headers["location"]
    session_id = ok.cookies["desk_session"]
    [stored] = world.sessions.docs.values()  # only the id's digest, and the key's
    assert stored["_id"] == key_digest(session_id) and stored["key"] == key_digest("tehran-key")
    assert session_id not in repr(stored) and "tehran-key" not in repr(stored)
    listed = await world.client.get("/desk/articles")
    assert (
        listed.status_code == 200
        and "Signed in: <bdi>desk</bdi> · <bdi>tehran</bdi>" in listed.text
    )
    csrf = await sign_in(world.client)  # a second sign-in: a session of its own
    assert len(world.sessions.docs) == 2
    out = await world.client.post("/desk/logout", data={"csrf": csrf})
    assert out.status_code == 303 and 'desk_session=""' in out.headers["set-cookie"]
    assert len(world.sessions.docs) == 1  # that one ended on the server


async def test_a_copy_of_the_cookie_stops_working_once_signed_out(world: SimpleNamespace) -> None:
    csrf = await sign_in(world.client)
    copied = dict(world.client.cookies)
    out = await world.client.post("/desk/logout", data={"csrf": csrf})
    assert out.status_code == 303
    world.client.cookies.update(copied)  # a thief replays what they copied
    again = await world.client.get("/desk/articles")
    assert again.status_code == 303 and again.headers["location"].startswith("/desk/login")


async def test_an_idle_session_ends_after_its_idle_lifetime(world: SimpleNamespace) -> None:
    await sign_in(world.client)
    for _ in range(3):  # each request within 30 minutes of the last keeps it alive
        world.clock.now += timedelta(minutes=29)
        assert (await world.client.get("/desk/articles")).status_code == 200
    world.clock.now += timedelta(minutes=30)
    idle = await world.client.get("/desk/articles")
    assert idle.status_code == 303 and idle.headers["location"].startswith("/desk/login")
    assert world.sessions.docs == {}  # deleted, not only refused


async def test_a_session_ends_at_its_absolute_lifetime_however_active(
    world: SimpleNamespace,
) -> None:
    await sign_in(world.client)
    start = world.clock.now
    while world.clock.now < start + timedelta(hours=12) - timedelta(minutes=20):
        world.clock.now += timedelta(minutes=20)
        assert (await world.client.get("/desk/articles")).status_code == 200
    world.clock.now = start + timedelta(hours=12)
    assert (await world.client.get("/desk/articles")).status_code == 303
    await sign_in(world.client)  # the next sign-in sweeps what expired unseen
    world.clock.now += timedelta(hours=13)
    await sign_in(world.client)
    assert len(world.sessions.docs) == 1


async def test_revoking_the_key_ends_its_sessions(world: SimpleNamespace) -> None:
    await sign_in(world.client)
    assert (await world.client.get("/desk/articles")).status_code == 200
    world.registry.revoked.add("tehran-key")
    assert (await world.client.get("/desk/articles")).status_code == 303
    assert world.sessions.docs == {}


async def test_the_csrf_token_belongs_to_the_session_not_the_key(world: SimpleNamespace) -> None:
    first = await sign_in(world.client)
    second = await sign_in(world.client)  # the same key, signed in again
    assert first != second
    stale = await world.client.post(
        "/desk/compose", data={"csrf": first, "content": "تیتر", "action": "preview"}
    )
    assert stale.status_code == 403 and "not from this desk" in stale.text


async def test_forms_need_their_token_and_this_site_as_origin(world: SimpleNamespace) -> None:
    csrf = await sign_in(world.client)
    form = {"content": "تیتر", "action": "publish"}
    missing = await world.client.post("/desk/compose", data=form)
    assert missing.status_code == 403 and "not from this desk" in missing.text
    elsewhere = await world.client.post(
        "/desk/compose", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and "sent from another site" in elsewhere.text
    cross = await world.client.post(
        "/desk/compose", data={**form, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert world.broker.sent == []


async def test_preview_shows_the_extraction_with_a_jalali_date_and_sends_nothing(
    world: SimpleNamespace,
) -> None:
    csrf = await sign_in(world.client)
    page = (SAMPLE / "mashhad-metropolis-secretary-general.txt").read_text()
    resp = await world.client.post(
        "/desk/compose",
        data={"csrf": csrf, "content": page, "format": "auto", "action": "preview"},
        headers={"Origin": "http://desk.test"},
    )
    assert resp.status_code == 200, resp.text
    html = resp.text
    headline = "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین\u200cالمللی است"
    assert f'<strong class="headline" lang="fa" dir="rtl">{headline}</strong>' in html
    assert "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱" in html  # 1404/02/09 07:21:53 Tehran, as printed
    assert 'datetime="2025-04-29T03:51:53+00:00" lang="fa" dir="rtl"' in html
    assert "<code>2212303</code>" in html and "A new article." in html
    assert '<div class="body" lang="fa" dir="rtl"><p>' in html
    assert world.broker.sent == []


async def test_text_is_escaped_and_a_refusal_keeps_the_form(world: SimpleNamespace) -> None:
    csrf = await sign_in(world.client)
    article = '{"headline": "<b>«تیتر»</b> خبر مهم شهرداری تهران", "body_text": "متن خبر"}'
    resp = await world.client.post(
        "/desk/compose", data={"csrf": csrf, "content": article, "action": "preview"}
    )
    assert resp.status_code == 200, resp.text
    assert "<b>«تیتر»</b>" not in resp.text
    assert "&lt;b&gt;«تیتر»&lt;/b&gt; خبر مهم شهرداری تهران" in resp.text
    bad = await world.client.post(
        "/desk/compose",
        data={"csrf": csrf, "content": '{"body_text": "متن"}', "action": "publish"},
    )
    assert bad.status_code == 422 and "headline: is required" in bad.text
    assert "{&#34;body_text&#34;: &#34;متن&#34;}" in bad.text  # still in the text box, escaped
    assert world.broker.sent == []


async def test_publish_sends_the_submission_and_lists_it_as_on_its_way(
    world: SimpleNamespace,
) -> None:
    csrf = await sign_in(world.client)
    page = (SAMPLE / "gorgan-guangzhou-room.txt").read_bytes()
    resp = await world.client.post(
        "/desk/compose",
        data={"csrf": csrf, "format": "auto", "action": "publish", "subjects": "culture، trade"},
        files={"file": ("room.txt", page, "text/plain")},
    )
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith("/desk/articles?done=submitted&submitted=tehran-")
    [(topic, sent)] = world.broker.sent
    assert topic == "articles.submitted" and sent["publisher"] == "tehran"
    assert sent["raw_text"].startswith(page.decode()[:40]) and sent["subjects"] == [
        "culture",
        "trade",
    ]
    listed = await world.client.get(location)
    assert "Sent. Ingest stores it" in listed.text and "data-pending" in listed.text


async def test_the_list_shows_each_language_state(world: SimpleNamespace) -> None:
    await sign_in(world.client)
    page = (await world.client.get("/desk/articles")).text
    row = page[page.index(f'data-article="{world.article.article_id}"') :]
    assert 'lang="fa" dir="rtl">مترو &lt;b&gt;تهران&lt;/b&gt; به شمال رسید</a>' in row
    assert re.search(r'status-published" data-lang="en">\s*published', row)
    assert re.search(r'status-pending" data-lang="ar" data-pending>\s*pending', row)


async def test_side_by_side_is_rtl_for_persian_and_arabic(world: SimpleNamespace) -> None:
    await sign_in(world.client)
    ident = world.article.article_id
    en = await world.client.get(f"/desk/articles/{ident}/translations/en")
    assert en.status_code == 200
    assert '<article class="source-text" lang="fa" dir="rtl">' in en.text
    assert '<article class="translation-text" lang="en" dir="ltr">' in en.text
    assert "Tehran metro &lt;reaches&gt; the north" in en.text  # escaped
    assert "<p>Line seven opened.</p>" in en.text  # the feeds' sanitised HTML, as it is
    assert "29 April 2025, 07:21 (UTC+03:30)" in en.text  # Gregorian in English
    assert 'value="Tehran metro &lt;reaches&gt; the north"' in en.text
    assert "Line seven opened.\n\nRiders welcomed it.</textarea>" in en.text
    ar = await world.client.get(f"/desk/articles/{ident}/translations/ar")
    assert "No translation is published yet." in ar.text
    assert 'name="body" class="tall" required lang="ar" dir="rtl"' in ar.text
    missing = await world.client.get(f"/desk/articles/{ident}/translations/ru")
    assert missing.status_code == 404 and "is not translated into &#39;ru&#39;" in missing.text
    # The original's own language is no translation: no side by side to edit it over.
    source = await world.client.get(f"/desk/articles/{ident}/translations/fa")
    assert source.status_code == 404 and "is not translated into &#39;fa&#39;" in source.text


async def test_approving_a_translation_sends_the_human_version(world: SimpleNamespace) -> None:
    csrf = await sign_in(world.client)
    ident = world.article.article_id
    url = f"/desk/articles/{ident}/translations/en"
    resp = await world.client.post(
        url,
        data={"csrf": csrf, "version": "1", "headline": "Metro reaches north", "body": "A.\n\nB."},
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"{url}?done=approved"
    [(topic, sent)] = world.broker.sent
    assert topic == "translations.submitted"
    assert (sent["language"], sent["headline"], sent["body_html"]) == (
        "en",
        "Metro reaches north",
        "<p>A.</p><p>B.</p>",
    )
    assert sent["translated_by"] == "desk (k_1)"
    waiting = await world.client.get(f"{url}?done=approved")
    assert "Your translation was sent" in waiting.text and "data-pending" in waiting.text
    stale = await world.client.post(
        url, data={"csrf": csrf, "version": "7", "headline": "x", "body": "y"}
    )
    assert stale.status_code == 409 and "version 7 was replaced by version 1" in stale.text


async def test_corrections_and_withdrawals_and_scopes(world: SimpleNamespace) -> None:
    ident = world.article.article_id
    csrf = await sign_in(world.client, "tehran-submit-only")
    refused = await world.client.post(
        f"/desk/articles/{ident}/withdraw", data={"csrf": csrf, "confirm": "yes"}
    )
    assert refused.status_code == 403
    assert "<strong>Not allowed.</strong> Your editor key does not allow this." in refused.text
    assert "key k_2 may not withdraw articles" in refused.text  # the English reason, isolated
    refused = await world.client.post(
        f"/desk/articles/{ident}/correct", data={"csrf": csrf, "headline": "تیتر", "body": "متن"}
    )
    assert refused.status_code == 403 and "may not correct published articles" in refused.text
    assert world.broker.sent == []

    csrf = await sign_in(world.client)
    fixed = await world.client.post(
        f"/desk/articles/{ident}/correct",
        data={"csrf": csrf, "headline": "مترو تهران به شمال رسید", "body": "متن اصلاح شده."},
    )
    assert fixed.status_code == 303 and fixed.headers["location"].endswith("?done=corrected")
    [(_, sent)] = world.broker.sent
    assert sent["external_id"] == "9001" and sent["body_text"] == "متن اصلاح شده."
    unconfirmed = await world.client.post(f"/desk/articles/{ident}/withdraw", data={"csrf": csrf})
    assert unconfirmed.status_code == 422 and "tick the box" in unconfirmed.text
    gone = await world.client.post(
        f"/desk/articles/{ident}/withdraw", data={"csrf": csrf, "confirm": "yes", "reason": "dup"}
    )
    assert gone.status_code == 303 and gone.headers["location"].endswith("?done=withdrawn")
    assert world.broker.sent[-1][1] == {
        "publisher": "tehran",
        "withdraw": True,
        "article_id": ident,
        "reason": "dup",
        "schema_version": 1,
    }
    other = await world.client.get("/desk/articles/mashhad-0123")
    assert other.status_code == 404 and "no article &#39;mashhad-0123&#39; of &#39;tehran&#39;" in (
        other.text
    )


async def test_an_outage_is_a_desk_page_saying_to_try_again(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the API's JSON: an editor in a browser gets a page, and the API keeps its JSON."""
    csrf = await sign_in(world.client)

    async def unreachable(*_: Any, **__: Any) -> None:
        raise AutoReconnect("database restarting")

    async def broker_down(*_: Any, **__: Any) -> None:
        raise KafkaConnectionError("broker down")

    monkeypatch.setattr(world.store, "recent", unreachable)
    listed = await world.client.get("/desk/articles")
    assert listed.status_code == 503 and listed.headers["retry-after"] == "5"
    assert listed.headers["content-type"].startswith("text/html")
    assert (
        "Not available." in listed.text and "cannot reach the broker or the database" in listed.text
    )
    assert 'href="http://desk.test/desk/articles">Try again</a>' in listed.text
    as_api = await world.client.get("/articles", headers={"Authorization": "Bearer tehran-key"})
    assert as_api.status_code == 503 and as_api.json()["error"] == "unavailable"

    monkeypatch.setattr(world.broker, "publish", broker_down)
    sent = await world.client.post(
        "/desk/compose",
        data={"csrf": csrf, "format": "auto", "action": "publish"},
        files={"file": ("room.txt", (SAMPLE / "gorgan-guangzhou-room.txt").read_bytes())},
    )
    assert sent.status_code == 503 and "Not sent." in sent.text
    assert "Your form was not sent" in sent.text and "Try again</a>" not in sent.text


# --------------------------------------------------------------------------- the interface language


async def test_a_desk_page_asked_for_in_persian_is_persian_right_to_left_with_persian_digits(
    world: SimpleNamespace,
) -> None:
    await sign_in(world.client)
    page = await world.client.get("/desk/articles", headers={"Accept-Language": "fa-IR,en;q=0.5"})
    assert page.status_code == 200 and "Accept-Language" in page.headers["vary"]
    html = page.text
    assert '<html lang="fa" dir="rtl">' in html
    assert "<h1>خبرهای <bdi>tehran</bdi></h1>" in html  # the publisher's id isolated
    assert ">بازبینی (۰)</a>" in html  # the menu's count in Persian digits
    assert "<td>۱</td>" in html  # the version
    assert re.search(r'status-published" data-lang="en">\s*منتشرشده', html)  # class stays English
    assert "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱" in html  # "Changed": a Jalali interface date
    assert "Articles of" not in html and ">Review (" not in html
    ident = world.article.article_id
    article = (
        await world.client.get(f"/desk/articles/{ident}", headers={"Accept-Language": "fa"})
    ).text
    assert '<span aria-hidden="true">→</span> همهٔ خبرها' in article  # the arrow points back
    assert "<dt>نسخه</dt><dd>۱</dd>" in article and '>انگلیسی <span lang="en"' in article
    english = await world.client.get("/desk/articles", headers={"Accept-Language": "en"})
    assert '<html lang="en" dir="ltr">' in english.text and "<td>1</td>" in english.text


async def test_the_remembered_choice_beats_the_browser_and_the_publisher(
    world: SimpleNamespace,
) -> None:
    await sign_in(world.client)
    world.client.cookies.set("ui_lang", "ru")
    page = await world.client.get("/desk/articles", headers={"Accept-Language": "fa"})
    assert '<html lang="ru" dir="ltr">' in page.text and "Новая статья" in page.text
    world.client.cookies.set("ui_lang", "xx")  # not an interface language: ignored
    page = await world.client.get("/desk/articles", headers={"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in page.text and "<td>١</td>" in page.text


async def test_without_a_choice_the_desk_speaks_the_publishers_language(
    world: SimpleNamespace,
) -> None:
    del world.client.headers["Accept-Language"]
    login = await world.client.get("/desk/login")  # nobody signed in yet: English
    assert '<html lang="en" dir="ltr">' in login.text
    await sign_in(world.client)
    page = await world.client.get("/desk/compose")  # Tehran publishes in Persian
    assert '<html lang="fa" dir="rtl">' in page.text and "<h1>خبر تازه یا اصلاحیه</h1>" in page.text
    assert 'data-read="پروندهٔ {name} در کادر متن خوانده شد."' in page.text  # for pages.js


async def test_the_language_switch_remembers_the_choice_and_stays_on_this_site(
    world: SimpleNamespace,
) -> None:
    chosen = await world.client.get("/desk/language/ru?next=/desk/articles")
    assert chosen.status_code == 303 and chosen.headers["location"] == "/desk/articles"
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith("ui_lang=ru;") and "Path=/" in cookie and "SameSite=lax" in cookie
    login = await world.client.get("/desk/login")
    assert '<html lang="ru" dir="ltr">' in login.text and "Ключ редактора" in login.text
    assert 'href="/desk/language/fa?next=/desk/login" lang="fa" hreflang="fa"' in login.text
    away = await world.client.get("/desk/language/fa?next=//evil.example")
    assert away.status_code == 303 and away.headers["location"] == "/desk/articles"
    unknown = await world.client.get("/desk/language/xx?next=/desk/articles")
    assert unknown.status_code == 404 and "set-cookie" not in unknown.headers
    assert unknown.json()["code"] == "interface_language_unknown"


def test_known_words_are_translated_and_unknown_ones_shown_as_they_are() -> None:
    env = templates().env
    source = "{{ c | check_name }}|{{ l | ui_language }}|{{ s | state_word }}|{{ xs | ui_list }}"
    page = env.from_string(source)
    persian = Ui("fa", LOCALES)
    assert page.render(ui=persian, c="numbers", l="tr", s="held", xs=["a", "b"]) == (
        "اعداد|ترکی استانبولی|نگه\u200cداشته|a و b"
    )
    # A check added to translate later: as it is; a language the table lacks: Babel's name
    # of it, else its English name.
    assert page.render(ui=persian, c="tone", l="sw", s="paused", xs=["a"]) == (
        "tone|سواحیلی|paused|a"
    )
    assert page.render(ui=persian, c="", l="prs-x", s="", xs=[]).split("|")[1] == "دری"
    assert page.render(ui=persian, c="tone", l="hy-AM", s="", xs=[]) == "tone|ارمنی||"
    english = page.render(ui=Ui("en", LOCALES), c="copy", l="ko", s="source", xs=["a", "b", "c"])
    assert english == "copy of the source|Korean|original|a, b, and c"
