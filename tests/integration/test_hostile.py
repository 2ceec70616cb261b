"""Hostile input on the real stack: what an attacker or a broken CMS might send. Each is
refused with a reason or cleaned, the partition keeps flowing, and nothing active or
XML-breaking reaches a feed. (Malformed JSON, wrong schema, invalid UTF-8, deep nesting, a
headline in the wrong script: test_pipeline's dead-letter test and the HTTP fuzz test.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from lxml import etree  # type: ignore[import-untyped]

from shared.contracts import Topics
from tests.integration.conftest import System, await_feed, send

pytestmark = pytest.mark.integration

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<html><body><article><h1>{headline}</h1>
<p>شهرداری مشهد از افتتاح کتابخانه‌ای تازه در محله طلاب خبر داد &lol9;.</p>
<p>این کتابخانه با ده هزار جلد کتاب به روی شهروندان باز است.</p>
<p>مدیر فرهنگی شهرداری گفت کتابخانه هر روز تا ساعت ده شب باز خواهد بود.</p>
</article></body></html>"""


async def test_active_content_control_characters_and_entity_bombs_never_reach_a_feed(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    run = uuid.uuid4().hex[:6]
    key = f"hostile-{run}"  # one partition: what follows must still flow
    scripted = f"گزارش فرهنگی {run} الف"
    controlled = f"گزارش\x00 با\x0b نویسه\x1b کنترلی {run}"
    bomb = f"کتابخانه تازه {run}"
    await send(
        producer,
        Topics.SUBMITTED,
        {
            "publisher": "tehran",
            "headline": scripted,
            "body_html": (
                '<p onclick="steal()">متن <a href="javascript:alert(1)">پیوند</a></p>'
                '<script>alert("x")</script><iframe src="https://evil.example/"></iframe>'
                '<p><img src="https://cdn.example/a.jpg" onerror="alert(2)"> پایان</p>'
                "<style>body{display:none}</style><svg onload=alert(3)></svg>"
            ),
            "external_id": f"{run}-script",
        },
        key=key,
    )
    await send(
        producer,
        Topics.SUBMITTED,
        {
            "publisher": "tehran",
            "headline": controlled,
            "body_text": f"متن\x07 با نویسه\x0c های کنترلی\x00 {run}",
            "external_id": f"{run}-control",
        },
        key=key,
    )
    await send(
        producer,
        Topics.SUBMITTED,
        {"publisher": "tehran", "raw_html": BILLION_LAUGHS.format(headline=bomb)},
        key=key,
    )
    last = f"خبر پس از ورودی‌های خطرناک {run}"
    await send(
        producer,
        Topics.SUBMITTED,
        {"publisher": "tehran", "headline": last, "body_text": "متن عادی.", "external_id": run},
        key=key,
    )

    def arrived(feed: Any) -> bool:  # each article has a partition of its own downstream
        titles = [e.title for e in feed.entries if run in e.title]
        cleaned = any(t.startswith("گزارش فرهنگی") for t in titles)
        return last in titles and cleaned and any("کنترلی" in t for t in titles)

    url = system.url("feeds", "/feeds/tehran/fa.atom")
    feed = await await_feed(http, url, arrived)
    raw = (await http.get(url)).content
    etree.fromstring(raw)  # still well-formed XML
    mine = [e for e in feed.entries if run in e.title]
    body = " ".join(c.value for e in mine for c in e.get("content", []))
    for active in ("<script", "<iframe", "<style", "<svg", "onclick", "onerror", "onload",
                   "javascript:", "alert("):  # fmt: skip
        assert active not in body and active.encode() not in raw, active
    for char in ("\x00", "\x07", "\x0b", "\x0c", "\x1b"):
        assert char.encode() not in raw, repr(char)
    assert any(e.title.startswith("گزارش فرهنگی") for e in mine)  # kept, cleaned
    assert any("کنترلی" in e.title for e in mine)
    assert b"lollol" not in raw  # the entities were never expanded


async def test_oversized_and_deeply_nested_requests_are_refused_with_a_reason(
    system: System, http: httpx.AsyncClient
) -> None:
    auth = {**system.auth("mashhad"), "Content-Type": "application/json"}
    huge = b'{"publisher": "mashhad", "headline": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    resp = await http.post(system.url("ingest", "/articles"), content=huge, headers=auth)
    assert resp.status_code == 413 and "the limit is" in resp.json()["reason"]

    nested = b"[" * 100_000 + b"]" * 100_000
    resp = await http.post(system.url("ingest", "/articles"), content=nested, headers=auth)
    assert resp.status_code in (400, 422) and resp.json()["reason"]
    # still serving
    assert (await http.get(system.url("ingest", "/healthz"))).status_code == 200
