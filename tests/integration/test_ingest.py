"""Ingest on the real stack: every input form, versions, withdrawal, embargo, keys, bad input."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contracts import Topics, utcnow
from tests.integration.conftest import FIXTURES, System, await_article, await_feed, read_topic, send

pytestmark = pytest.mark.integration
SAMPLES = FIXTURES / "samples"


def titles(feed: Any) -> set[str]:
    return {e.title for e in feed.entries}


def entry(feed: Any, headline: str) -> Any:
    return next(e for e in feed.entries if e.title == headline)


async def submit_page(
    system: System, http: httpx.AsyncClient, publisher: str, path: Path, **params: str
) -> dict[str, Any]:
    ctype = "text/html" if path.suffix == ".html" else "text/plain"
    resp = await http.post(
        system.url("ingest", "/articles"),
        content=path.read_bytes(),
        params=params,
        headers={**system.auth(publisher), "Content-Type": f"{ctype}; charset=utf-8"},
    )
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_scraped_page_becomes_the_article_and_nothing_else(
    system: System, http: httpx.AsyncClient
) -> None:
    page = SAMPLES / "mashhad-metropolis-secretary-general.txt"
    accepted = await submit_page(system, http, "mashhad", page)
    headline = "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین\u200cالمللی است"
    assert accepted["headline"] == headline
    assert accepted["external_id"] == "2212303"  # the page's "کد خبر", in Latin digits
    assert accepted["published"] == "2025-04-29T03:51:53+00:00"  # ۱۴۰۴/۰۲/۰۹ ۰۷:۲۱:۵۳ Tehran
    assert accepted["published_source"] == "page"

    feed = await await_feed(
        http, system.url("feeds", "/feeds/mashhad/fa.atom"), lambda f: headline in titles(f)
    )
    content = entry(feed, headline).content[0].value
    assert content.count("<p>") >= 15
    assert "به گزارش خبرگزاری برنا از خراسان رضوی" in content  # body kept
    for junk in ("جوان سال", "بانک سپه", "بلیط هواپیما", "نظر شما", "پیشنهاد سردبیر", "کد خبر"):
        assert junk not in content, junk
    assert entry(feed, headline).published == "2025-04-29T03:51:53+00:00"

    # The same page again is the same article, still at version 1.
    again = await submit_page(system, http, "mashhad", page)
    assert again["article_id"] == accepted["article_id"]
    article = await await_article(system, http, "mashhad", again["article_id"], lambda a: True)
    assert article["version"] == 1 and len(article["versions"]) == 1


async def test_an_edited_page_is_version_two_in_every_feed(
    system: System, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    page = SAMPLES / "mashhad-jahanshahr-portal-launch.txt"
    first = await submit_page(system, http, "mashhad", page)
    assert first["headline"] == "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد"
    assert first["external_id"] == "1314415"
    assert first["published_source"] == "submission-time"  # the page prints no date
    edited = tmp_path / "edited.txt"
    edited.write_text(page.read_text().replace("سید ناصر نعمتی", "سید ناصر نعمتی، مدیر مرکز"))
    second = await submit_page(system, http, "mashhad", edited)
    assert second["article_id"] == first["article_id"]  # same news code: a correction

    headline = first["headline"]
    for lang, title in (("fa", headline), ("en", f"[en] {headline}")):
        await await_feed(
            http,
            system.url("feeds", f"/feeds/mashhad/{lang}.atom"),
            lambda f, title=title: any(
                e.title == title and "ناصر نعمتی، مدیر مرکز" in e.content[0].value
                for e in f.entries
            ),
        )
    article = await await_article(
        system,
        http,
        "mashhad",
        first["article_id"],
        lambda a: a["languages"]["en"].get("version") == 2,
    )
    assert [v["version"] for v in article["versions"]] == [1, 2]
    assert article["languages"]["en"]["status"] == "published"
    assert set(article["languages"]) == {"fa", "en", "ar", "ru"}
    assert article["languages"]["fa"] == {"status": "source"}  # the original's own language

    # A page without a news code is identified by its content: the same page twice is one article.
    gorgan = SAMPLES / "gorgan-guangzhou-room.txt"
    a = await submit_page(system, http, "gorgan", gorgan)
    b = await submit_page(system, http, "gorgan", gorgan)
    assert a["article_id"] == b["article_id"] and a["external_id"] is None


async def test_zero_width_non_joiners_in_html_reach_the_feed(
    system: System, http: httpx.AsyncClient
) -> None:
    accepted = await submit_page(
        system, http, "tehran", SAMPLES / "tehran-transport-synthetic.html"
    )
    assert accepted["published"] == "2024-03-07T11:01:00+00:00"  # ۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱
    feed = await await_feed(
        http,
        system.url("feeds", "/feeds/tehran/fa.atom"),
        lambda f: accepted["headline"] in titles(f),
    )
    content = entry(feed, accepted["headline"]).content[0].value
    assert "اتوبوس‌های برقی" in content and "می‌شود" in content  # U+200C kept
    for junk in ("صفحه اصلی", "آگهی مناقصه", "اخبار مرتبط", "ارسال نظر", "تمامی حقوق"):
        assert junk not in content, junk


def ninjs_doc(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "uri": f"urn:newsml:mashhad.ir:2025:{tag}",
        "type": "text",
        "language": "fa",
        "headlines": [{"value": f"همایش شهرهای خواهرخوانده در مشهد {tag}", "role": "main"}],
        "bodies": [
            {
                "value": "<p>نمایندگان شهرهای خواهرخوانده در مشهد گرد هم آمدند.</p>"
                '<script>alert(1)</script><p onclick="x()">همکاری‌ها گسترش می‌یابد.</p>',
                "contenttype": "text/html",
                "role": "main",
            }
        ],
        "firstcreated": "2025-05-01T10:00:00+03:30",
        "versioncreated": "2025-05-01T10:00:00+03:30",
        "subjects": [{"name": "sister cities"}],
        **extra,
    }


async def test_ninjs_on_the_topic_is_sanitised_and_a_cancel_withdraws_it_everywhere(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    doc = ninjs_doc(tag)
    headline = doc["headlines"][0]["value"]
    await send(producer, Topics.SUBMITTED, {"publisher": "mashhad", "ninjs": doc})
    fa_url = system.url("feeds", "/feeds/mashhad/fa.atom")
    en_url = system.url("feeds", "/feeds/mashhad/en.atom")
    feed = await await_feed(http, fa_url, lambda f: headline in titles(f))
    content = entry(feed, headline).content[0].value
    assert "script" not in content and "onclick" not in content and "alert" not in content
    assert "همکاری‌ها گسترش می‌یابد." in content
    assert entry(feed, headline).published == "2025-05-01T06:30:00+00:00"
    await await_feed(http, en_url, lambda f: f"[en] {headline}" in titles(f))

    canceled = {**doc, "pubstatus": "canceled"}
    await send(producer, Topics.SUBMITTED, {"publisher": "mashhad", "ninjs": canceled})
    await await_feed(http, fa_url, lambda f: headline not in titles(f))
    await await_feed(http, en_url, lambda f: f"[en] {headline}" not in titles(f))


async def test_withdrawal_through_the_api_and_the_key_rules(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    article = {
        "headline": f"بازدید هیئت شهر کازان از تهران {tag}",
        "body_text": "هیئتی از شهر کازان از پروژه‌های شهری تهران بازدید کرد.",
        "external_id": f"kazan-{tag}",
    }
    url = system.url("ingest", "/articles")
    ok = await http.post(url, json=article, headers=system.auth("tehran"))
    assert ok.status_code == 202, ok.text
    ident = ok.json()["article_id"]
    fa_url = system.url("feeds", "/feeds/tehran/fa.atom")
    await await_feed(http, fa_url, lambda f: article["headline"] in titles(f))

    no_key = await http.post(url, json=article)
    assert no_key.status_code == 401 and "Authorization: Bearer" in no_key.json()["reason"]
    bad_key = await http.post(url, json=article, headers={"X-API-Key": "cfk_tehran_guess"})
    assert bad_key.status_code == 401
    # An editor of Mashhad can neither see nor withdraw Tehran's article.
    foreign = system.url("ingest", f"/articles/{ident}")
    assert (await http.get(foreign, headers=system.auth("mashhad"))).status_code == 404
    assert (await http.delete(foreign, headers=system.auth("mashhad"))).status_code == 404

    gone = await http.delete(foreign, headers=system.auth("tehran"))
    assert gone.status_code == 202 and gone.json()["status"] == "withdrawing"
    await await_feed(http, fa_url, lambda f: article["headline"] not in titles(f))
    await await_feed(
        http,
        system.url("feeds", "/feeds/tehran/ru.atom"),
        lambda f: f"[ru] {article['headline']}" not in titles(f),
    )
    # The head is saved just after the announcement: the editor's view follows within moments.
    state = await await_article(system, http, "tehran", ident, lambda a: a["version"] == 2)
    assert state["status"] == "withdrawn"
    listed = await http.get(system.url("ingest", "/articles"), headers=system.auth("tehran"))
    mine = {a["article_id"]: a for a in listed.json()}
    assert mine[ident]["status"] == "withdrawn" and mine[ident]["headline"] == article["headline"]
    assert all(a["article_id"].startswith("tehran-") for a in listed.json())


async def test_an_embargoed_article_waits_for_its_time(
    system: System, http: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    url, auth = system.url("ingest", "/articles"), system.auth("gorgan")
    held = {
        "headline": f"خبر محرمانه تا زمان انتشار {tag}",
        "body_text": "این خبر تا پایان زمان تحریم منتشر نمی‌شود.",
        "embargoed": (utcnow() + timedelta(seconds=6)).isoformat(),
    }
    free = {"headline": f"خبر آزاد منطقهٔ ده {tag}", "body_text": "این خبر بی‌درنگ منتشر می‌شود."}
    assert (await http.post(url, json=held, headers=auth)).status_code == 202
    assert (await http.post(url, json=free, headers=auth)).status_code == 202
    fa_url = system.url("feeds", "/feeds/gorgan/fa.atom")
    feed = await await_feed(http, fa_url, lambda f: free["headline"] in titles(f))
    assert held["headline"] not in titles(feed)  # submitted first, still held
    await await_feed(http, fa_url, lambda f: held["headline"] in titles(f), timeout=30)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["publisher", "headline", "body_text", "body_html", "raw_text", "raw_html", "ninjs",
     "published", "embargoed", "withdraw", "article_id", "images", "pubstatus", "schema_version"]
)  # fmt: skip
NEAR_ARTICLES = st.dictionaries(FIELDS, JSON, max_size=6)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        JSON.map(lambda v: json.dumps(v).encode()),
        NEAR_ARTICLES.map(lambda v: json.dumps(v).encode()),
    ),
    ctype=st.sampled_from(["application/json", "text/plain", "text/html", "image/png"]),
    path=st.sampled_from(["/articles", "/articles/preview"]),
)
def test_the_api_answers_4xx_never_5xx_to_arbitrary_input(
    system: System, body: bytes, ctype: str, path: str
) -> None:
    resp = httpx.post(
        system.url("ingest", path),
        content=body,
        headers={**system.auth("mashhad"), "Content-Type": ctype},
        timeout=10,
    )
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.json()["reason"]


async def test_a_record_with_binary_headers_does_not_block_its_partition(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    key = f"hdr-{uuid.uuid4().hex[:6]}"
    good = {"publisher": "tehran", "headline": f"پس از سرآیند دودویی {key}", "body_text": "متن."}
    # Sent together, so they are fetched in one batch: the binary header must not sink it.
    sent = [
        await producer.send(
            Topics.SUBMITTED, b"{}", key=key.encode(), headers=[("trace", b"\xff\xfe")]
        ),
        await producer.send(Topics.SUBMITTED, json.dumps(good).encode(), key=key.encode()),
    ]
    await asyncio.gather(*sent)
    await await_feed(
        http, system.url("feeds", "/feeds/tehran/fa.atom"), lambda f: good["headline"] in titles(f)
    )
    letters = await read_topic(
        system.infra.kafka,
        Topics.dlq(Topics.SUBMITTED),
        lambda seen: any(d["key"] == key for d in seen),
    )
    mine = [d for d in letters if d["key"] == key]
    assert len(mine) == 1 and "headline: is required" in mine[0]["reason"]


async def test_the_cli_submits_a_folder_of_pages_and_articles(
    system: System, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "page.txt").write_bytes((SAMPLES / "gorgan-guangzhou-room.txt").read_bytes())
    article = {"headline": f"خبر از پوشه {tag}", "body_text": "متن خبر."}
    (folder / "article.json").write_text(json.dumps(article, ensure_ascii=False))
    (folder / "broken.json").write_text("{not json")
    keyfile = tmp_path / "gorgan.key"
    keyfile.write_text(system.keys["gorgan"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.ingest.cli", "submit", str(folder),
        "--api", system.url("ingest"), "--key-file", str(keyfile),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 1, err  # one file was refused
    lines = out.decode().splitlines()
    assert any(ln.startswith("accepted  page.txt") for ln in lines), lines
    assert any(ln.startswith("accepted  article.json") for ln in lines), lines
    assert any(ln.startswith("refused   broken.json: HTTP 422") for ln in lines), lines
    await await_feed(
        http,
        system.url("feeds", "/feeds/gorgan/fa.atom"),
        lambda f: article["headline"] in titles(f),
    )


async def test_a_version_stored_before_a_crash_is_adopted_and_announced(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    """The state a crash between storing a version and saving its head leaves behind."""
    from pymongo import AsyncMongoClient

    from services.ingest.article import PreparedVersion, prepare
    from services.ingest.store import version_id
    from services.ingest.versions import Head, apply
    from shared.contracts import SUBMISSION
    from shared.registry import Publisher

    tag = uuid.uuid4().hex[:8]
    submission = {
        "publisher": "gorgan",
        "headline": f"نسخهٔ مانده از پیش از خرابی {tag}",
        "body_text": "این نسخه ذخیره شد اما سرآیندش نه.",
        "external_id": f"orphan-{tag}",
    }
    change = prepare(
        SUBMISSION.validate_python(submission), Publisher(id="gorgan", name="Gorgan"), utcnow()
    )
    assert isinstance(change, PreparedVersion)
    event = apply(Head(change.article_id), change, 0, 0, utcnow())
    assert event is not None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(system.infra.mongodb_uri)
    try:
        await client[system.infra.database]["article_versions"].insert_one(
            {
                "_id": version_id(event.article_id, 1),
                "article_id": event.article_id,
                "version": 1,
                "content_hash": event.content_hash,
                "embargo_until": None,
                "event": event.model_dump(mode="json"),
            }
        )
    finally:
        await client.close()

    await send(producer, Topics.SUBMITTED, submission)  # the redelivery
    await await_feed(
        http,
        system.url("feeds", "/feeds/gorgan/fa.atom"),
        lambda f: submission["headline"] in titles(f),
    )
    article = await await_article(
        system, http, "gorgan", change.article_id, lambda a: a["announced_version"] == 1
    )
    assert article["version"] == 1 and len(article["versions"]) == 1


async def test_a_restarted_ingest_continues_an_article_stored_before_it_started(
    system: System, producer: AIOKafkaProducer, http: httpx.AsyncClient
) -> None:
    """A new process plans the articles it has not stored as new, without reading their heads:
    an existing one is found when its version 1 clashes, and two corrections sent together
    still become the next versions, in their order."""
    from services.ingest.text import article_id

    tag = uuid.uuid4().hex[:8]
    ident = article_id("gorgan", f"restart-{tag}", "", "")
    headlines = [f"خبر پیش از راه‌اندازی دوباره {tag}", f"اصلاح یکم {tag}", f"اصلاح دوم {tag}"]

    def submission(headline: str) -> dict[str, Any]:
        body = "متن خبر پیش از راه‌اندازی دوباره."
        return {"publisher": "gorgan", "headline": headline, "body_text": body,
                "external_id": f"restart-{tag}"}  # fmt: skip

    await send(producer, Topics.SUBMITTED, submission(headlines[0]), key=ident)
    await await_article(system, http, "gorgan", ident, lambda a: a["announced_version"] == 1)
    system.kill("ingest")
    await asyncio.to_thread(system.start, "ingest")
    for headline in headlines[1:]:  # together, so most likely in one batch
        value = json.dumps(submission(headline), ensure_ascii=False).encode()
        await producer.send(Topics.SUBMITTED, value, key=ident.encode())
    await producer.flush()
    article = await await_article(
        system, http, "gorgan", ident, lambda a: a["announced_version"] == 3
    )
    assert [v["headline"] for v in article["versions"]] == headlines
    assert [v["version"] for v in article["versions"]] == [1, 2, 3]
