"""The pipeline on the real stack: Kafka client in, Atom feeds out, bad input in the DLQ."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import Topics
from tests.integration.conftest import System, await_feed, read_topic, send

pytestmark = pytest.mark.integration


def article(publisher: str = "mashhad", **overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "publisher": publisher,
        "headline": f"نشست خواهرخواندگی مشهد و گوانگژو {tag}",
        "body_text": (
            "شهردار مشهد با هیئت گوانگژو دیدار کرد.\n\nدو شهر بر همکاری فرهنگی تأکید کردند."
        ),
        "external_id": f"ext-{tag}",
        "published": "2025-04-29T07:21:53+03:30",
        "subjects": ["city diplomacy"],
        **overrides,
    }


def titles(feed: Any) -> set[str]:
    return {e.title for e in feed.entries}


async def test_article_from_a_plain_kafka_client_reaches_the_atom_feeds(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    a = article()
    await send(producer, Topics.SUBMITTED, a)  # no key, no headers: as kcat would send it

    fa = await await_feed(
        http, system.url("feeds", "/feeds/mashhad/fa.atom"), lambda f: a["headline"] in titles(f)
    )
    assert not fa.bozo
    entry = next(e for e in fa.entries if e.title == a["headline"])
    assert 'dir="rtl"' in entry.content[0].value
    assert "شهردار مشهد با هیئت گوانگژو دیدار کرد." in entry.content[0].value
    assert entry.published == "2025-04-29T03:51:53+00:00"  # Tehran time, stored as UTC
    assert [t.term for t in entry.tags] == ["city diplomacy"]

    # The deterministic test engine translated it into every subscribed language.
    for lang in ("en", "ar", "ru"):
        feed = await await_feed(
            http,
            system.url("feeds", f"/feeds/mashhad/{lang}.atom"),
            lambda f, lang=lang: f"[{lang}] {a['headline']}" in titles(f),
        )
        assert not feed.bozo
        assert feed.feed.language == lang
    rss = (await http.get(system.url("feeds", "/feeds/mashhad/fa.rss"))).text
    assert a["headline"] in rss and 'isPermaLink="false"' in rss


async def test_feed_answers_conditional_requests_with_304(
    system: System, http: httpx.AsyncClient
) -> None:
    url = system.url("feeds", "/feeds/tehran/fa.atom")
    first = await http.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/atom+xml")
    again = await http.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert (await http.get(system.url("feeds", "/feeds/nowhere/fa.atom"))).status_code == 404


BAD_INPUT: dict[str, tuple[bytes | dict[str, Any], str]] = {
    "not-json": (b"{this is not json", "not valid JSON"),
    "bad-utf8": (b'{"publisher": "mashhad", "headline": "\xff\xfe"}', "not valid UTF-8"),
    "not-object": (b"[1, 2, 3]", "must be a JSON object"),
    "empty": (b"", "empty message"),
    "no-headline": ({"publisher": "mashhad", "body_text": "متن"}, "headline: is required"),
    "no-body": ({"publisher": "mashhad", "headline": "تیتر"}, "needs a body"),
    "unknown-publisher": (article("atlantis"), "unknown publisher 'atlantis'"),
    "typo-field": ({**article(), "headlien": "x"}, "headlien: is not a known field"),
    "future-schema": ({**article(), "schema_version": 2}, "schema_version"),
    "bad-date": ({**article(), "published": "yesterday"}, "published: cannot read the date"),
    "wrong-language": (
        {**article(), "headline": "Mashhad hosts a delegation from Kazan"},
        "headline: is mostly in Latin letters",
    ),
    "bad-jalali-date": ({**article(), "published": "۳۲ اسفند ۱۴۰۲"}, "day is out of range"),
    "oversized": (article(body_text="م" * 1_100_000), "the limit is"),
    "page-without-article": ({"publisher": "mashhad", "raw_text": "منو\nخانه"}, "no "),
    "two-page-forms": (
        {"publisher": "mashhad", "raw_text": "a", "raw_html": "<p>b</p>"},
        "exactly one of raw_html or raw_text",
    ),
    "ninjs-without-uri": ({"publisher": "mashhad", "ninjs": {"headline": "تیتر"}}, "uri"),
    "withdraw-unknown": (
        {"publisher": "mashhad", "withdraw": True, "article_id": "mashhad-nothing"},
        "no article 'mashhad-nothing' to withdraw",
    ),
    "withdraw-foreign": (
        {"publisher": "mashhad", "withdraw": True, "article_id": "tehran-0123"},
        "is not one of 'mashhad'",
    ),
}


async def test_invalid_messages_land_in_the_dlq_with_a_reason_and_do_not_block(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    run = uuid.uuid4().hex[:6]
    key = f"poison-{run}"  # one key: every message lands on the same partition
    for payload, _ in BAD_INPUT.values():
        await send(producer, Topics.SUBMITTED, payload, key=key)
    good = article("tehran")
    await send(producer, Topics.SUBMITTED, good, key=key)

    # The good article behind the poison still arrives: the partition kept flowing.
    await await_feed(
        http, system.url("feeds", "/feeds/tehran/fa.atom"), lambda f: good["headline"] in titles(f)
    )

    letters = await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.SUBMITTED),
        lambda seen: sum(1 for d in seen if d["key"] == key) >= len(BAD_INPUT),
    )
    mine = [d for d in letters if d["key"] == key]
    assert all(d["service"] == "ingest" and d["topic"] == Topics.SUBMITTED for d in mine)
    reasons = [d["reason"] for d in mine]
    assert len(reasons) == len(BAD_INPUT), reasons
    for name, (_, expected) in BAD_INPUT.items():
        assert any(expected in r for r in reasons), (
            f"{name}: no DLQ entry saying {expected!r} in {reasons}"
        )
    bad_utf8 = next(d for d in mine if "UTF-8" in d["reason"])
    assert bad_utf8["payload"] is None and bad_utf8["payload_base64"]  # original bytes kept
    assert any(d["payload"] == "{this is not json" for d in mine)


async def test_http_api_accepts_articles_and_explains_rejections(
    system: System, http: httpx.AsyncClient
) -> None:
    a = article("gorgan")
    resp = await http.post(system.url("ingest", "/articles"), json=a, headers=system.auth("gorgan"))
    assert resp.status_code == 202, resp.text
    article_id = resp.json()["article_id"]
    await await_feed(
        http, system.url("feeds", "/feeds/gorgan/fa.atom"), lambda f: a["headline"] in titles(f)
    )
    shown = (
        await http.get(
            system.url("ingest", f"/articles/{article_id}"), headers=system.auth("gorgan")
        )
    ).json()
    assert shown["version"] == 1 and [v["version"] for v in shown["versions"]] == [1]

    missing = await http.post(
        system.url("ingest", "/articles"),
        json={"publisher": "gorgan", "body_text": "x"},
        headers=system.auth("gorgan"),
    )
    assert missing.status_code == 422
    assert missing.json()["reason"] == "headline: is required"
    other = await http.post(
        system.url("ingest", "/articles"), json=article("mashhad"), headers=system.auth("gorgan")
    )
    assert other.status_code == 403
    assert other.json()["reason"] == (
        "this key publishes as 'gorgan'; it cannot publish as 'mashhad'"
    )
    huge = await http.post(
        system.url("ingest", "/articles"),
        json=article("gorgan", body_text="م" * 3_000_000),
        headers=system.auth("gorgan"),
    )
    assert huge.status_code == 413 and "limit" in huge.json()["reason"]


async def test_correction_is_a_new_version_and_resubmission_is_a_no_op(
    system: System, http: httpx.AsyncClient
) -> None:
    a = article("tehran")
    url, auth = system.url("ingest", "/articles"), system.auth("tehran")
    first = (await http.post(url, json=a, headers=auth)).json()["article_id"]
    await http.post(url, json=a, headers=auth)  # the same again: nothing changes
    corrected = {**a, "headline": a["headline"] + " (اصلاحیه)"}
    second = (await http.post(url, json=corrected, headers=auth)).json()["article_id"]
    assert first == second  # same external_id: the same article

    feed = await await_feed(
        http,
        system.url("feeds", "/feeds/tehran/fa.atom"),
        lambda f: corrected["headline"] in titles(f),
    )
    assert a["headline"] not in titles(feed)  # the entry was replaced, not duplicated
    shown = (await http.get(system.url("ingest", f"/articles/{first}"), headers=auth)).json()
    assert [v["version"] for v in shown["versions"]] == [1, 2]
