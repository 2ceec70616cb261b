"""The partner portal without infrastructure: the directory with preview links and the partner
form, feed previews (RTL, Jalali dates, escaping, provenance), private feeds behind the partner's
token kept in a scoped cookie, and the entry as JSON the editor desk reads. The stored documents
are rendered by the real renderer; a store in memory stands in for the database."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.feeds import http, pages, portal
from services.feeds.publishing import Feeds
from services.feeds.render import Entry, Feed, FeedLinks, render
from services.feeds.store import Rendered
from shared.i18n import Ui
from shared.registry import Registry, create_partner_token, save
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

SITE = "http://portal.test"
PUBLISHED = datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC)


class Store:
    """Rendered documents and entries in memory."""

    page_size = 10

    def __init__(self) -> None:
        self.docs: dict[str, Rendered] = {}
        self.entries: dict[str, dict[str, Any]] = {}

    def page_of(self, seq: int) -> int:
        return (seq - 1) // self.page_size

    async def head(self, feed: str) -> int:
        return 1

    async def get_rendered(self, key: str) -> Rendered | None:
        return self.docs.get(key)

    async def save_rendered(
        self,
        key: str,
        seq: int,
        body: bytes,
        media_type: str,
        updated: datetime,
        source: Any = None,
    ) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.docs[key] = Rendered(body, media_type, etag, updated, source)

    async def rendered_version(self, key: str) -> tuple[int, str] | None:
        doc = self.docs.get(key)
        return None if doc is None else (1, doc.etag)

    async def drop_rendered(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.docs.pop(key, None)

    async def links_token(self, feed: str) -> str | None:
        return None

    async def is_current(self, key: str, feed: str, etag: str) -> bool:
        doc = self.docs.get(key)
        return doc is not None and doc.etag == etag

    async def entry(self, article_id: str, language: str) -> dict[str, Any] | None:
        return self.entries.get(f"{article_id}:{language}")

    async def languages(self, article_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        return {}


def entry(language: str, headline: str, body: str, **extra: Any) -> Entry:
    return Entry(
        article_id="tehran-1",
        language=language,
        version=1,
        headline=headline,
        body_html=body,
        published=PUBLISHED,
        updated=PUBLISHED,
        publisher="tehran",
        publisher_name="Tehran",
        link=f"{SITE}/entries/tehran-1/{language}",
        subjects=("city diplomacy",),
        **extra,
    )


async def publish(store: Store, feed_id: str, language: str, *entries: Entry) -> None:
    """Store a feed's Atom and JSON documents as the feeds service renders them."""
    kind, key, _ = feed_id.split("/")
    doc = Feed(
        kind=kind,  # type: ignore[arg-type]
        key=key,
        language=language,
        title=f"Tehran ({language})",
        author="Tehran",
        links=FeedLinks(self_base=f"{SITE}/{feed_id}"),
        updated=PUBLISHED,
        entries=entries,
    )
    atom = render(doc, "atom")
    await store.save_rendered(f"{feed_id}.atom", 1, atom, "application/atom+xml", PUBLISHED)
    etag = store.docs[f"{feed_id}.atom"].etag
    json_doc = render(doc, "json")
    await store.save_rendered(
        f"{feed_id}.json", 1, json_doc, "application/feed+json", PUBLISHED, etag
    )


@pytest.fixture
async def w() -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = Store()
    feeds = Feeds(store, registry, SITE)  # type: ignore[arg-type]
    app = FastAPI()
    server = http.install(app, feeds, cache_seconds=0)
    portal.install(app, server)
    fa = entry("fa", "مترو <تهران> به شمال رسید", "<p>خط هفت افتتاح شد.</p>")
    en = entry(
        "en",
        "[en] Tehran metro reaches the north",
        "<p>Line seven opened.</p>",
        provenance={"method": "machine", "engine": "pseudo", "model": "pseudo"},
    )
    human = entry(
        "en",
        "Tehran metro reaches the north",
        "<p>Line seven opened, reviewed.</p>",
        provenance={"method": "human", "engine": "human", "reviewed": True},
    )
    await publish(store, "publisher/tehran/fa", "fa", fa)
    await publish(store, "publisher/tehran/en", "en", en)
    await publish(store, "partner/kazan/fa", "fa", fa)
    await publish(store, "partner/kazan/ru", "ru")
    await publish(store, "network/metropolis/en", "en", human)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE)
    return SimpleNamespace(client=client, store=store, token=token)


async def test_the_directory_links_a_preview_of_each_feed_and_the_partner_form(
    w: SimpleNamespace,
) -> None:
    page = await w.client.get("/feeds")
    assert page.status_code == 200
    for path in ("/feeds/tehran/fa", "/feeds/tehran/ar", "/networks/metropolis/en"):
        assert f'href="{SITE}/preview{path}">Preview</a>' in page.text
    assert f'action="{SITE}/preview/partners"' in page.text
    assert '<label for="token">Feed token</label>' in page.text and 'type="password"' in page.text
    assert f'href="{SITE}/feeds.opml"' in page.text and "<script" not in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    css = await w.client.get("/assets/pages.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await w.client.get("/assets/secrets.txt")).status_code == 404


async def test_a_persian_feed_preview_is_right_to_left_with_jalali_dates(
    w: SimpleNamespace,
) -> None:
    page = await w.client.get("/preview/feeds/tehran/fa")
    assert page.status_code == 200
    text = page.text
    assert '<ol class="entries" lang="fa" dir="rtl">' in text
    assert '<li class="entry" lang="fa" dir="rtl">' in text
    assert "مترو &lt;تهران&gt; به شمال رسید" in text and "<تهران>" not in text
    assert "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱" in text  # Jalali, in Tehran's time
    assert '<div dir="rtl" lang="fa"><p>خط هفت افتتاح شد.</p></div>' in text
    assert "Machine translation" not in text  # the source language
    for fmt in ("atom", "rss", "json"):
        assert f'href="{SITE}/feeds/tehran/fa.{fmt}"' in text
    assert f'href="{SITE}/preview/feeds/tehran/en" hreflang="en"' in text
    assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_an_english_preview_says_how_each_entry_was_translated(w: SimpleNamespace) -> None:
    machine = (await w.client.get("/preview/feeds/tehran/en")).text
    assert '<ol class="entries" lang="en" dir="ltr">' in machine
    assert "Machine translation: pseudo" in machine
    assert "29 April 2025, 07:21 (UTC+03:30)" in machine  # Gregorian, the publisher's time
    human = (await w.client.get("/preview/networks/metropolis/en")).text
    assert "Human translation, reviewed" in human and "Line seven opened, reviewed." in human
    missing = await w.client.get("/preview/feeds/nowhere/en")
    assert missing.status_code == 404 and "unknown publisher &#39;nowhere&#39;" in missing.text
    assert (await w.client.get("/preview/elsewhere/tehran/en")).status_code == 404


async def test_a_private_feed_is_previewed_with_the_partners_token_in_a_scoped_cookie(
    w: SimpleNamespace,
) -> None:
    asked = await w.client.get("/preview/partners/kazan/fa")
    assert asked.status_code == 401 and 'name="token"' in asked.text
    assert 'value="kazan"' in asked.text
    wrong = await w.client.post("/preview/partners", data={"partner": "kazan", "token": "nope"})
    assert wrong.status_code == 401 and "do not go together" in wrong.text
    foreign = await w.client.post(
        "/preview/partners",
        data={"partner": "kazan", "token": w.token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    ok = await w.client.post(
        "/preview/partners",
        data={"partner": "Kazan", "token": w.token},
        headers={"Origin": SITE},
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"{SITE}/preview/partners/kazan"
    cookie = ok.headers["set-cookie"]
    for part in ("HttpOnly", "Path=/preview/partners/kazan", "SameSite=strict"):
        assert part in cookie, cookie
    assert w.token not in ok.headers["location"]
    home = await w.client.get("/preview/partners/kazan")
    assert home.status_code == 200 and "Kazan" in home.text
    assert f"{SITE}/partners/kazan/ru.atom" in home.text
    assert home.headers["cache-control"] == "private, no-store"
    assert w.token not in home.text
    feed = await w.client.get("/preview/partners/kazan/fa")
    assert feed.status_code == 200 and "مترو &lt;تهران&gt; به شمال رسید" in feed.text
    assert re.search(r'lang="fa" dir="rtl"', feed.text)
    empty = await w.client.get("/preview/partners/kazan/ru")
    assert empty.status_code == 200 and "No entries yet." in empty.text
    w.client.cookies.clear()  # a reader that sends the token itself
    bearer = await w.client.get(
        "/preview/partners/kazan/fa", headers={"Authorization": f"Bearer {w.token}"}
    )
    assert bearer.status_code == 200
    wrong_bearer = await w.client.get(
        "/preview/partners/kazan/fa", headers={"Authorization": "Bearer nope"}
    )
    assert wrong_bearer.status_code == 401 and "unknown, revoked or expired" in wrong_bearer.text


async def test_signing_out_forgets_the_token_whatever_the_path_holds(w: SimpleNamespace) -> None:
    """The partner id of the sign-out path goes into the cookie's Path: quoted, so that no id
    breaks the header (a non-Latin-1 id made it a 500, found by the portal fuzz)."""
    out = await w.client.post("/preview/partners/kazan/sign-out", headers={"Origin": SITE})
    assert out.status_code == 303 and out.headers["location"] == f"{SITE}/feeds"
    cookie = out.headers["set-cookie"]
    assert "partner_token=" in cookie and "Path=/preview/partners/kazan" in cookie
    for odd in ("%C4%80", "%D9%85%D8%B4%D9%87%D8%AF", "a%0D%0ASet-Cookie:%20x=1", "a;b"):
        resp = await w.client.post(f"/preview/partners/{odd}/sign-out", headers={"Origin": SITE})
        assert resp.status_code == 303, odd
        assert "\n" not in resp.headers["set-cookie"] and "x=1" not in resp.headers["set-cookie"]


async def test_the_entry_as_json_for_the_editor_desk(w: SimpleNamespace) -> None:
    w.store.entries["tehran-1:en"] = {
        "_id": "tehran-1:en",
        "article_id": "tehran-1",
        "language": "en",
        "version": 2,
        "revision": 1,
        "status": "active",
        "headline": "Tehran metro",
        "body_html": "<p>Line seven.</p>",
        "published": PUBLISHED,
        "provenance": {"method": "human", "translated_at": PUBLISHED},
        "appended": {"publisher/tehran/en": "2.1"},
    }
    got = await w.client.get("/entries/tehran-1/en.json")
    assert got.status_code == 200
    body = got.json()
    assert body["headline"] == "Tehran metro" and body["version"] == 2
    assert body["provenance"]["method"] == "human" and "appended" not in body
    assert (await w.client.get("/entries/tehran-1/ar.json")).status_code == 404
    w.store.entries["tehran-1:en"]["status"] = "withdrawn"
    assert (await w.client.get("/entries/tehran-1/en.json")).status_code == 410


async def test_the_entry_page_links_only_an_http_original_and_runs_nothing_inline(
    w: SimpleNamespace,
) -> None:
    """Issue 18, finding 8: what reached the stored entry (anything that can write to Kafka or
    the database) is never a ``javascript:`` link; the page has no inline style or script, so
    the strict CSP every page carries holds."""
    base = {
        "_id": "tehran-1:fa",
        "article_id": "tehran-1",
        "language": "fa",
        "version": 1,
        "status": "active",
        "headline": "مترو <تهران>",
        "body_html": "<p>خط هفت.</p>",
        "published": PUBLISHED,
    }
    w.store.entries["tehran-1:fa"] = {**base, "url": "javascript:alert(1)"}
    page = await w.client.get("/entries/tehran-1/fa")
    assert page.status_code == 200
    assert "javascript:" not in page.text and "Original" not in page.text
    assert "<style" not in page.text and "<script" not in page.text
    assert "مترو &lt;تهران&gt;" in page.text
    assert '<article class="entry-page" lang="fa" dir="rtl">' in page.text
    w.store.entries["tehran-1:fa"] = {**base, "url": "https://www.tehran.ir/news/1"}
    page = await w.client.get("/entries/tehran-1/fa")
    assert 'href="https://www.tehran.ir/news/1">Original</a>' in page.text


async def test_a_preview_links_nothing_but_http_even_from_an_old_stored_document(
    w: SimpleNamespace,
) -> None:
    """A feed document rendered before links were checked is served as stored: the preview
    page still turns no ``javascript:`` URL into a link."""
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Tehran (fa)",
        "items": [
            {
                "id": "x",
                "url": "javascript:alert(1)",
                "external_url": "javascript:alert(2)",
                "title": "تیتر",
                "content_html": "<p>متن</p>",
                "language": "fa",
            }
        ],
    }
    body = json.dumps(doc).encode()
    atom = w.store.docs["publisher/tehran/fa.atom"].etag  # stored beside its Atom document
    await w.store.save_rendered(
        "publisher/tehran/fa.json", 1, body, "application/feed+json", PUBLISHED, atom
    )
    page = await w.client.get("/preview/feeds/tehran/fa")
    assert page.status_code == 200 and "تیتر" in page.text
    assert "javascript:" not in page.text and "Original" not in page.text


# ---- the interface's language -----------------------------------------------------------------


def varies(page: httpx.Response) -> bool:
    """Whether a page says it depends on what chooses its language (and gzip may add more)."""
    said = {part.strip() for part in page.headers.get("vary", "").split(",")}
    return {"Accept-Language", "Cookie"} <= said


def speaking(lang: str) -> dict[str, str]:
    return {"Accept-Language": f"{lang},en;q=0.5"}


async def test_the_directory_is_in_the_readers_language_and_english_by_default(
    w: SimpleNamespace,
) -> None:
    arabic = await w.client.get("/feeds", headers=speaking("ar"))
    assert '<html lang="ar" dir="rtl">' in arabic.text
    for heading in ("موجزات أخبار المدن", "الناشرون", "الشبكات", "الموجزات الخاصة بالمدن الشريكة"):
        assert heading in arabic.text
    assert '<label for="token">رمز الموجز</label>' in arabic.text
    assert "Publishers" not in arabic.text and "Feed token" not in arabic.text
    russian = await w.client.get("/feeds", headers=speaking("ru"))
    assert '<html lang="ru" dir="ltr">' in russian.text
    assert "Новостные ленты городов" in russian.text and "Издатели" in russian.text
    english = await w.client.get("/feeds")  # no header, no cookie
    assert '<html lang="en" dir="ltr">' in english.text and ">Publishers</h2>" in english.text
    for page in (arabic, russian, english):
        assert varies(page)
        assert page.headers["cache-control"] == "public, max-age=60"
    # A language the portal has no interface in: English, the portal's default.
    assert '<html lang="en"' in (await w.client.get("/feeds", headers=speaking("tr"))).text


async def test_a_persian_preview_counts_and_notes_in_persian(w: SimpleNamespace) -> None:
    page = await w.client.get("/preview/feeds/tehran/en", headers=speaking("fa"))
    text = page.text
    assert '<html lang="fa" dir="rtl">' in text and varies(page)
    assert "پیش‌نمایش خوراک به زبان انگلیسی" in text  # the feed's language, named in Persian
    assert "۱ مطلب، به ترتیب از جدیدترین." in text  # a Persian count, in Persian digits
    assert "ترجمهٔ ماشینی: \u2068pseudo\u2069" in text and "Machine translation" not in text
    assert '<bdi lang="fa" dir="rtl" class="status status-pending">' in text
    assert '<span aria-hidden="true">→</span> فهرست خوراک‌ها</a>' in text  # back, the RTL way
    # The entries keep their own language: the feed's text is English, left to right.
    assert '<ol class="entries" lang="en" dir="ltr">' in text
    english = (await w.client.get("/preview/feeds/tehran/en")).text
    assert "Preview of the English feed" in english and "1 entry, newest first." in english
    assert '<span aria-hidden="true">←</span> The feed directory</a>' in english


async def test_the_switch_remembers_a_language_and_goes_back_only_to_this_site(
    w: SimpleNamespace,
) -> None:
    chosen = await w.client.get("/language/fa", params={"next": "/feeds"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/feeds"
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith("ui_lang=fa;") and "Path=/" in cookie and "HttpOnly" in cookie
    page = await w.client.get("/feeds", headers=speaking("ru"))  # the choice over the browser's
    assert '<html lang="fa" dir="rtl">' in page.text and "ناشران" in page.text
    assert 'href="/language/ar?next=/feeds" lang="ar"' in page.text  # the switch, on every page
    elsewhere = await w.client.get("/language/ar", params={"next": "https://evil.example/"})
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/feeds"


async def test_the_token_form_says_what_went_wrong_in_the_readers_language(
    w: SimpleNamespace,
) -> None:
    wrong = await w.client.get(
        "/preview/partners/kazan/fa",
        headers={"Authorization": "Bearer nope", **speaking("fa")},
    )
    assert wrong.status_code == 401 and '<html lang="fa" dir="rtl">' in wrong.text
    assert "توکن خوراک لازم است." in wrong.text
    assert "این توکن خوراک ناشناخته است یا باطل یا منقضی شده است." in wrong.text
    assert "unknown, revoked" not in wrong.text
    foreign = await w.client.post(
        "/preview/partners",
        data={"partner": "kazan", "token": w.token},
        headers={"Origin": "https://evil.example", **speaking("ru")},
    )
    assert foreign.status_code == 403 and "Форма не принята." in foreign.text
    arabic = await w.client.get("/preview/partners/kazan/fa", headers=speaking("ar"))
    assert arabic.status_code == 401 and "لمدة ١٢ ساعة." in arabic.text  # Arabic-Indic digits
    russian = await w.client.get("/preview/partners/kazan/fa", headers=speaking("ru"))
    assert "на 12 часов." in russian.text


async def test_a_missing_feed_keeps_the_servers_english_reason_apart(w: SimpleNamespace) -> None:
    missing = await w.client.get("/preview/feeds/nowhere/en", headers=speaking("ar"))
    assert missing.status_code == 404 and '<html lang="ar" dir="rtl">' in missing.text
    assert "<strong>غير موجود.</strong>" in missing.text and "لا يوجد موجز كهذا" in missing.text
    assert '<bdi class="detail" lang="en" dir="ltr">unknown publisher &#39;nowhere&#39;' in (
        missing.text
    )
    elsewhere = await w.client.get("/preview/elsewhere/tehran/en", headers=speaking("ru"))
    assert elsewhere.status_code == 404 and "По этому адресу лент нет." in elsewhere.text


async def test_the_entry_page_speaks_the_interface_around_the_articles_language(
    w: SimpleNamespace,
) -> None:
    w.store.entries["tehran-1:en"] = {
        "article_id": "tehran-1",
        "language": "en",
        "version": 1,
        "status": "active",
        "headline": "Tehran metro",
        "body_html": "<p>Line seven.</p>",
        "published": PUBLISHED,
        "url": "https://www.tehran.ir/news/1",
        "provenance": {"method": "machine", "engine": "opus", "reviewed": True},
    }
    page = await w.client.get("/entries/tehran-1/en", headers=speaking("fa"))
    assert '<html lang="fa" dir="rtl">' in page.text and varies(page)
    assert '<article class="entry-page" lang="en" dir="ltr">' in page.text
    assert "ترجمهٔ ماشینی: \u2068opus\u2069 · تأییدشده از سوی ویراستار" in page.text
    assert 'href="https://www.tehran.ir/news/1">متن اصلی</a>' in page.text


def test_the_translation_note_names_the_failed_checks_in_the_interface_language() -> None:
    prov = {
        "method": "machine",
        "engine": "libretranslate",
        "checks_version": "1",
        "check_failures": [{"check": "numbers"}, {"check": "glossary"}, {"check": "numbers"}],
    }
    russian = pages.translation_note(prov, ui=Ui("ru", pages.LOCALES))
    assert russian == (
        "Машинный перевод: libretranslate · автоматические проверки: не пройдены: числа и глоссарий"
    )
    arabic = pages.translation_note(prov, ui=Ui("ar", pages.LOCALES))
    assert arabic.endswith("إخفاق في الأرقام والمسرد")  # the language's own way of listing
    assert pages.translation_note(prov) == (  # English without a Ui (and never in feeds)
        "Machine translation: libretranslate · automatic checks: failed: numbers and glossary"
    )
