"""Originals in another of the publisher's languages, on the real stack (issue 21).

Mashhad writes Persian, and its feeds are Persian, English, Arabic and Russian; an editor may
write the English version first. That original is the English entry as it was written (status
``source``, never "pending"), and the test engine translates it into the three others, Persian
included; a correction of the original is translated again.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import System, await_article, await_feed

pytestmark = pytest.mark.integration

OTHERS = ("fa", "ar", "ru")


def english(tag: str, **overrides: Any) -> dict[str, Any]:
    return {
        "language": "en",
        "headline": f"Mashhad and Kazan sign a culture programme {tag}",
        "body_text": "The mayors met in Mashhad.\n\nThey agreed on a festival of both cities.",
        "external_id": f"en-first-{tag}",
        "published": "2025-04-29T07:21:53+03:30",
        "subjects": ["culture"],
        **overrides,
    }


async def submit(system: System, http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    resp = await http.post(
        system.url("ingest", "/articles"), json=body, headers=system.auth("mashhad")
    )
    assert resp.status_code == 202, resp.text
    article_id: str = resp.json()["article_id"]
    return article_id


async def in_feed(system: System, http: httpx.AsyncClient, lang: str, title: str, body: str) -> Any:
    """The entry titled ``title`` whose content has ``body``, once the feed carries it."""
    feed = await await_feed(
        http,
        system.url("feeds", f"/feeds/mashhad/{lang}.atom"),
        lambda f: any(e.title == title and body in e.content[0].value for e in f.entries),
    )
    assert not feed.bozo and feed.feed.language == lang
    return next(e for e in feed.entries if e.title == title)


async def test_an_english_original_is_the_source_and_translated_into_persian_too(
    system: System, http: httpx.AsyncClient
) -> None:
    a = english(uuid.uuid4().hex[:8])
    ident = await submit(system, http, a)

    original = await in_feed(system, http, "en", a["headline"], "The mayors met in Mashhad.")
    assert 'dir="rtl"' not in original.content[0].value
    for lang in OTHERS:  # the test engine marks its output with the target language
        await in_feed(system, http, lang, f"[{lang}] {a['headline']}", "The mayors met")

    shown = await await_article(
        system,
        http,
        "mashhad",
        ident,
        lambda s: all(s["languages"][x].get("status") == "published" for x in OTHERS),
    )
    assert shown["article"]["language"] == "en"
    assert shown["languages"]["en"] == {"status": "source"}
    assert list(shown["languages"]) == ["en", "fa", "ar", "ru"]  # its own first
    for lang in OTHERS:
        assert shown["languages"][lang]["version"] == 1
        assert shown["languages"][lang]["engine"] == "pseudo"
    listed = await http.get(system.url("ingest", "/articles"), headers=system.auth("mashhad"))
    row = next(r for r in listed.json() if r["article_id"] == ident)
    assert row["languages"]["en"] == {"status": "source"}

    # In the feeds, the English entry is the original (no provenance) and the Persian one a
    # machine translation that links to it.
    en = (await http.get(system.url("feeds", f"/entries/{ident}/en.json"))).json()
    fa = (await http.get(system.url("feeds", f"/entries/{ident}/fa.json"))).json()
    assert en["provenance"] is None and en["headline"] == a["headline"]
    assert fa["provenance"]["engine"] == "pseudo" and fa["provenance"]["method"] == "machine"
    title = f"[fa] {a['headline']}"
    await await_feed(  # the links to other languages follow within a second
        http,
        system.url("feeds", "/feeds/mashhad/fa.atom"),
        lambda f: any(
            e.title == title and "en" in {x.get("hreflang") for x in e.links} for e in f.entries
        ),
    )

    # An editor may translate it into Persian, never into English, its own language.
    human = {
        "headline": "مشهد و کازان برنامه فرهنگی امضا کردند",
        "body_text": "شهرداران دیدار کردند.",
    }
    url = system.url("ingest", f"/articles/{ident}/translations/{{}}")
    auth = system.auth("mashhad")
    assert (await http.put(url.format("en"), json=human, headers=auth)).status_code == 422
    assert (await http.put(url.format("fa"), json=human, headers=auth)).status_code == 202
    await in_feed(system, http, "fa", human["headline"], "شهرداران دیدار کردند.")

    # A correction of the original: version 2 everywhere, translated again.
    corrected = {**a, "body_text": "The mayors met in Mashhad on Tuesday.\n\nA festival follows."}
    assert await submit(system, http, corrected) == ident
    await in_feed(system, http, "en", a["headline"], "on Tuesday")
    for lang in OTHERS:  # Persian too: the editor translated version 1 only
        await in_feed(system, http, lang, f"[{lang}] {a['headline']}", "on Tuesday")
    shown = await await_article(
        system,
        http,
        "mashhad",
        ident,
        lambda s: all(s["languages"][x].get("version") == 2 for x in OTHERS),
    )
    assert shown["version"] == 2 and shown["languages"]["en"] == {"status": "source"}
    assert {shown["languages"][x]["status"] for x in OTHERS} == {"published"}


async def test_a_persian_original_still_lists_persian_as_its_source(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    body = {
        "headline": f"نشست خواهرخواندگی مشهد و کازان {tag}",
        "body_text": "شهردار مشهد با هیئت کازان دیدار کرد.",
        "external_id": f"fa-first-{tag}",
    }
    ident = await submit(system, http, body)
    shown = await await_article(
        system,
        http,
        "mashhad",
        ident,
        lambda s: all(s["languages"][x].get("status") == "published" for x in ("en", "ar", "ru")),
    )
    assert shown["languages"]["fa"] == {"status": "source"}
    assert list(shown["languages"]) == ["fa", "en", "ar", "ru"]
