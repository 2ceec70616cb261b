"""ninjs 3.1 out (issue 21 item 7): every kind of entry (an original, a machine translation, a
human one, a withdrawn one, a picture item, a gallery, a text with pictures) as a document valid
against IPTC's own ninjs 3.1 schema (the file ingest validates submissions with), with the
translation's provenance in ninjs's own fields; and the routes that serve them, one entry and a
feed's entries, with their validators, 304s and HEAD, a partner's feed behind its token."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

from services.feeds.entries import EntryImage, FeedEntry
from services.feeds.http import install
from services.feeds.ninjs_out import PROVENANCE_ROLE, entry_document, entry_json, feed_json
from services.feeds.publishing import FeedRef, Feeds
from services.feeds.render import entry_id
from services.feeds.routing import FeedUrls
from services.feeds.store import Rendered, StoredEntry
from shared.contracts import ArticleStatus
from shared.registry import Registry, create_partner_token, save
from tests.unit.shared.test_registry import NETWORKS, PARTNERS, PUBLISHERS, T0, Clock, FakeDb

SCHEMA = Path(__file__).resolve().parents[3] / "services/ingest/schemas/ninjs/ninjs-schema_3.1.json"
SITE = "https://feeds.example"
PERMALINK = FeedUrls(SITE).permalink
WHEN = datetime(2025, 5, 1, 8, 30, tzinfo=UTC)


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


# The schema's formats, checked here (jsonschema checks date-time and uri only with extras).
FORMATS = FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_date_time)
FORMATS.checks("uri")(_uri)
VALIDATOR = Draft202012Validator(json.loads(SCHEMA.read_text()), format_checker=FORMATS)


def valid(doc: Any) -> Any:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert not errors, errors
    return doc


SOURCE = FeedEntry(
    article_id="a1",
    language="fa",
    version=2,
    status=ArticleStatus.ACTIVE,
    publisher="tehran",
    publisher_name="Tehran",
    headline="خط ۷ مترو به شمال رسید",
    body_html="<p>خط ۷ مترو تهران به شمال شهر رسید.</p>",
    published=WHEN,
    updated=WHEN + timedelta(hours=1),
    source_language="fa",
    url="https://tehran.example/news/1",
    subjects=("transport", "http://cv.iptc.org/newscodes/mediatopic/20000756"),
    byline="Sara Ahmadi",
)
PROVENANCE = {
    "engine": "ctranslate2",
    "model": "opus-mt-fa-en",
    "model_version": "2024-05",
    "glossary_version": "g7",
    "pivot": None,
    "method": "machine",
    "reviewed": False,
    "missing_terms": ["مترو → metro"],
    "needs_review": True,
    "translated_at": WHEN + timedelta(hours=2),
    "check_failures": [{"check": "numbers", "reason": "7 is missing", "segment": 1}],
    "held": False,
}
MACHINE = replace(
    SOURCE,
    language="en",
    headline="Metro line 7 reaches the north",
    body_html="<p>Tehran's metro line 7 reached the north of the city.</p>",
    updated=WHEN + timedelta(hours=2),
    provenance=PROVENANCE,
)
HUMAN = replace(
    MACHINE,
    revision=1,
    provenance={
        "engine": "human",
        "method": "human",
        "reviewed": True,
        "translated_by": "Layla (desk)",
        "translated_at": "2025-05-01T12:00:00Z",
        "review": "edited",
        "reviewed_by": "Layla (desk)",
    },
)
WITHDRAWN = replace(SOURCE, version=3, status=ArticleStatus.WITHDRAWN)
IMAGES = (
    EntryImage(
        url="https://tehran.example/img/1.jpg",
        caption="The new station at Tajrish",
        credit="Tehran Metro",
        media_type="image/jpeg",
        width=1600,
        height=900,
    ),
    EntryImage(url="https://tehran.example/img/2.png", media_type="image/png"),
)
WITH_PICTURES = replace(MACHINE, images=IMAGES)
PICTURE = replace(SOURCE, article_id="p1", body_html="", images=IMAGES[:1])
GALLERY = replace(SOURCE, article_id="g1", body_html=" ", images=IMAGES)
KINDS = {
    "source": SOURCE,
    "machine translation": MACHINE,
    "human translation": HUMAN,
    "withdrawn": WITHDRAWN,
    "text with pictures": WITH_PICTURES,
    "picture item": PICTURE,
    "gallery": GALLERY,
}


def document(entry: FeedEntry) -> dict[str, Any]:
    doc: dict[str, Any] = valid(json.loads(entry_json(entry, PERMALINK)))
    return doc


# ---------------------------------------------------------------------- the documents


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_entry_is_valid_ninjs_3_1(kind: str) -> None:
    doc = document(KINDS[kind])
    assert doc["standard"] == {
        "name": "ninjs",
        "version": "3.1",
        "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#",
    }


def test_the_schema_refuses_what_is_not_ninjs() -> None:
    """The validator is not lenient: an extension property or a bad status is refused (which is
    why the full provenance record rides in ``descriptions``, not in a property of its own)."""
    doc = entry_document(MACHINE, PERMALINK)
    assert list(VALIDATOR.iter_errors({**doc, "cs:provenance": {"engine": "x"}}))
    assert list(VALIDATOR.iter_errors({**doc, "pubStatus": "withdrawn"}))
    assert list(VALIDATOR.iter_errors({**doc, "versionCreated": "yesterday"}))


def test_an_original_carries_its_metadata() -> None:
    doc = document(SOURCE)
    assert doc["uri"] == entry_id("a1", "fa")  # the id the feeds give the entry
    assert doc["type"] == "text"
    assert doc["version"] == "2"
    assert doc["firstCreated"] == "2025-05-01T08:30:00Z"
    assert doc["versionCreated"] == "2025-05-01T09:30:00Z"
    assert doc["pubStatus"] == "usable"
    assert doc["language"] == "fa"
    assert doc["headlines"] == [
        {"role": "main", "contentType": "text/plain", "value": SOURCE.headline}
    ]
    assert doc["bodies"] == [
        {"role": "main", "contentType": "text/html", "value": SOURCE.body_html}
    ]
    assert doc["by"] == "Sara Ahmadi"
    assert doc["subjects"] == [
        {"name": "transport"},
        {"uri": "http://cv.iptc.org/newscodes/mediatopic/20000756"},
    ]
    assert doc["copyrightHolder"] == "Tehran"
    assert doc["infoSources"] == [{"name": "Tehran", "role": "publisher", "literal": "tehran"}]
    assert {"role": "publisherUrl", "value": "https://tehran.example/news/1"} in doc["altIds"]
    assert doc["renditions"] == [
        {"name": "web", "href": f"{SITE}/entries/a1/fa", "contentType": "text/html"}
    ]
    assert "digitalSourceType" not in doc and "edNote" not in doc  # nothing to declare


def test_a_machine_translation_says_so_in_ninjs_own_fields() -> None:
    doc = document(MACHINE)
    assert doc["digitalSourceType"]["uri"] == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    )
    assert {"name": "ctranslate2 opus-mt-fa-en 2024-05", "role": "translator"} in doc["infoSources"]
    assert doc["edNote"].startswith("Machine translation from Persian, not reviewed")
    assert "numbers" in doc["edNote"] and "مترو → metro" in doc["edNote"]
    original = doc["associations"][-1]
    assert original["rel"] == "translationOf"
    assert original["uri"] == entry_id("a1", "fa")
    assert original["renditions"][0]["href"] == f"{SITE}/entries/a1/fa"


def test_the_whole_provenance_record_rides_in_a_description() -> None:
    doc = document(MACHINE)
    (record,) = [d for d in doc["descriptions"] if d["role"] == PROVENANCE_ROLE]
    assert record["contentType"] == "application/json"
    found = json.loads(record["value"])
    assert found["translated_at"] == "2025-05-01T10:30:00Z"
    assert {k: v for k, v in found.items() if k != "translated_at"} == {
        k: v for k, v in PROVENANCE.items() if k != "translated_at"
    }


def test_a_human_translation_is_human_edited_and_a_new_version_string() -> None:
    doc = document(HUMAN)
    assert doc["digitalSourceType"]["uri"].endswith("/humanEdits")
    assert doc["version"] == "2.1"  # revision 1 of version 2: it moves with the text
    assert {"name": "Layla (desk)", "role": "translator"} in doc["infoSources"]
    assert doc["edNote"] == "Translated from Persian by an editor."


def test_a_withdrawn_entry_is_canceled_and_bare() -> None:
    doc = document(WITHDRAWN)
    assert doc["pubStatus"] == "canceled"
    assert doc["version"] == "3"
    for gone in ("headlines", "bodies", "associations", "renditions", "by", "subjects"):
        assert gone not in doc


def test_pictures_are_associations_with_renditions_and_captions() -> None:
    doc = document(WITH_PICTURES)
    first, second, original = doc["associations"]
    assert first == {
        "name": "picture1",
        "rel": "image",
        "uri": "https://tehran.example/img/1.jpg",
        "type": "picture",
        "renditions": [
            {
                "name": "original",
                "href": "https://tehran.example/img/1.jpg",
                "contentType": "image/jpeg",
                "width": 1600,
                "height": 900,
            }
        ],
        "descriptions": [
            {"role": "caption", "contentType": "text/plain", "value": "The new station at Tajrish"}
        ],
        "by": "Tehran Metro",
    }
    assert second["renditions"][0]["contentType"] == "image/png"
    assert "descriptions" not in second
    assert original["rel"] == "translationOf"


def test_a_picture_item_is_the_picture_and_a_gallery_is_composite() -> None:
    picture = document(PICTURE)
    assert picture["type"] == "picture"
    assert picture["renditions"][1]["href"] == "https://tehran.example/img/1.jpg"
    assert picture["descriptions"][0]["value"] == "The new station at Tajrish"
    assert "associations" not in picture and "bodies" not in picture
    gallery = document(GALLERY)
    assert gallery["type"] == "composite"
    assert [a["uri"] for a in gallery["associations"]] == [i.url for i in IMAGES]


def test_naive_datetimes_from_the_database_are_utc() -> None:
    naive = replace(SOURCE, published=WHEN.replace(tzinfo=None))
    assert document(naive)["firstCreated"] == "2025-05-01T08:30:00Z"


def test_a_feed_is_a_json_array_of_complete_documents() -> None:
    docs = json.loads(feed_json(KINDS.values(), PERMALINK))
    assert isinstance(docs, list) and len(docs) == len(KINDS)
    for doc in docs:
        valid(doc)


# ---------------------------------------------------------------------- the routes


class FakeStore:
    """Stored entries and one feed log in memory: what the ninjs routes read."""

    page_size = 10

    def __init__(self) -> None:
        self.entries: dict[str, FeedEntry] = {}
        self.logs: dict[str, list[FeedEntry]] = {}  # oldest first
        self.rendered: dict[str, Rendered] = {}
        self.seqs: dict[str, int] = {}

    async def stored(self, article_id: str, language: str) -> StoredEntry | None:
        entry = self.entries.get(f"{article_id}:{language}")
        return None if entry is None else StoredEntry(entry)

    async def entry(self, article_id: str, language: str) -> dict[str, Any] | None:
        """The stored document, as ``/entries/{id}/{lang}.json`` reads it."""
        entry = self.entries.get(f"{article_id}:{language}")
        return None if entry is None else {**asdict(entry), "status": entry.status.value}

    def page_of(self, seq: int) -> int:
        return (seq - 1) // self.page_size

    async def head(self, feed: str) -> int:
        return len(self.logs.get(feed, []))

    async def page_items(self, feed: str, pages: Iterable[int], head: int) -> list[FeedEntry]:
        log = self.logs.get(feed, [])[:head]
        wanted = [e for n, e in enumerate(log) if self.page_of(n + 1) in set(pages)]
        return wanted[::-1]

    async def rendered_version(self, key: str) -> tuple[int, str] | None:
        found = self.rendered.get(key)
        return None if found is None else (self.seqs.get(key, 0), found.etag)

    async def get_rendered(self, key: str) -> Rendered | None:
        return self.rendered.get(key)

    async def save_rendered(self, key: str, seq: int, body: bytes, *args: Any) -> None:
        """A render of the feed's Atom document (the tests make them: the body is a marker)."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.rendered[key] = Rendered(body, "application/atom+xml", etag, WHEN)
        self.seqs[key] = seq

    async def drop_rendered(self, keys: Iterable[str]) -> None:
        raise AssertionError("the ninjs routes drop nothing")

    async def links_token(self, feed: str) -> str | None:
        return None

    async def is_current(self, key: str, feed: str, etag: str) -> bool:
        version = await self.rendered_version(key)
        return version is not None and version[1] == etag and version[0] >= await self.head(feed)

    async def publish(self, feed: str, entry: FeedEntry) -> None:
        """Store the entry, append it to the feed's log and render the feed's Atom document."""
        self.entries[entry.key] = entry
        self.logs.setdefault(feed, []).append(entry)
        await self.save_rendered(f"{feed}.atom", len(self.logs[feed]), entry.stamp.encode())


async def make(cache_seconds: float = 0) -> SimpleNamespace:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    registry = Registry(db, ttl=5.0, clock=Clock())  # type: ignore[arg-type]
    token, _ = await create_partner_token(db, "kazan", now=T0)  # type: ignore[arg-type]
    store = FakeStore()
    feeds = Feeds(store, registry, SITE)  # type: ignore[arg-type]
    app = FastAPI()
    install(app, feeds, cache_seconds=cache_seconds)
    for entry in (SOURCE, PICTURE):
        await store.publish("publisher/tehran/fa", entry)
        await store.publish("partner/kazan/fa", entry)
    await store.publish("publisher/tehran/en", MACHINE)
    await store.publish("publisher/tehran/en", HUMAN)  # the newer revision is the one shown
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE)
    return SimpleNamespace(client=client, store=store, token=token, feeds=feeds)


@pytest.fixture
async def w() -> SimpleNamespace:
    return await make()


async def test_one_entry_as_ninjs_with_validators_304_and_head(w: SimpleNamespace) -> None:
    got = await w.client.get("/entries/a1/en.ninjs")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert valid(got.json())["version"] == "2.1"
    assert got.headers["link"] == f'<{SITE}/entries/a1/en.ninjs>; rel="self"'
    etag, modified = got.headers["etag"], got.headers["last-modified"]
    assert modified == "Thu, 01 May 2025 10:30:00 GMT"
    again = await w.client.get("/entries/a1/en.ninjs", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    head = await w.client.head("/entries/a1/en.ninjs")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-length"] == got.headers["content-length"]  # gzip: both


async def test_the_platform_json_stays_beside_it(w: SimpleNamespace) -> None:
    """``.json`` is still the platform's own JSON (the editor desk reads it); only the suffix
    tells the two apart."""
    own = (await w.client.get("/entries/a1/en.json")).json()
    assert own["article_id"] == "a1" and own["provenance"]["method"] == "human"
    ninjs = (await w.client.get("/entries/a1/en.ninjs")).json()
    assert ninjs["uri"] == entry_id("a1", "en") and "article_id" not in ninjs


async def test_unknown_entries_and_languages_are_404(w: SimpleNamespace) -> None:
    assert (await w.client.get("/entries/nope/en.ninjs")).status_code == 404
    assert (await w.client.get("/entries/a1/de.ninjs")).status_code == 404
    assert (await w.client.get("/entries/a1/e%20n.ninjs")).status_code == 404


async def test_a_withdrawn_entry_answers_canceled(w: SimpleNamespace) -> None:
    w.store.entries[WITHDRAWN.key] = WITHDRAWN
    got = await w.client.get("/entries/a1/fa.ninjs")
    assert got.status_code == 200
    assert valid(got.json())["pubStatus"] == "canceled"


async def test_a_publishers_feed_as_ninjs(w: SimpleNamespace) -> None:
    got = await w.client.get("/feeds/tehran/en.ninjs")
    assert got.status_code == 200
    docs = [valid(d) for d in got.json()]
    assert [(d["uri"], d["version"]) for d in docs] == [(entry_id("a1", "en"), "2.1")]
    fa = (await w.client.get("/feeds/tehran/fa.ninjs")).json()
    assert {d["type"] for d in fa} == {"text", "picture"}
    etag = got.headers["etag"]
    again = await w.client.get("/feeds/tehran/en.ninjs", headers={"If-None-Match": etag})
    assert again.status_code == 304
    head = await w.client.head("/feeds/tehran/en.ninjs")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


async def test_a_withdrawal_in_the_feed_is_a_canceled_item(w: SimpleNamespace) -> None:
    await w.store.publish("publisher/tehran/fa", WITHDRAWN)
    docs = (await w.client.get("/feeds/tehran/fa.ninjs")).json()
    by_uri = {d["uri"]: d for d in docs}
    assert by_uri[entry_id("a1", "fa")]["pubStatus"] == "canceled"
    assert by_uri[entry_id("p1", "fa")]["pubStatus"] == "usable"


async def test_a_feeds_ninjs_is_cached_with_its_atom_document() -> None:
    """In memory for ``FEEDS_CACHE_SECONDS`` like the feed documents, but never older than the
    Atom document this replica serves: a change it consumed is a new ninjs at once."""
    w = await make(cache_seconds=60)
    url = "/feeds/tehran/fa.ninjs"
    first = await w.client.get(url)
    w.store.logs["publisher/tehran/fa"].append(WITHDRAWN)  # appended, not rendered yet
    assert (await w.client.get(url)).content == first.content
    await w.store.publish("publisher/tehran/fa", WITHDRAWN)  # rendered ...
    await w.feeds.changed(FeedRef("publisher", "tehran", "fa"))  # ... and consumed here
    docs = (await w.client.get(url)).json()
    assert {d["uri"]: d["pubStatus"] for d in docs}[entry_id("a1", "fa")] == "canceled"


async def test_unknown_feeds_and_languages_are_404(w: SimpleNamespace) -> None:
    for url in ("/feeds/nowhere/en.ninjs", "/feeds/tehran/de.ninjs"):
        assert (await w.client.get(url)).status_code == 404


async def test_a_partners_ninjs_needs_its_token(w: SimpleNamespace) -> None:
    url = "/partners/kazan/fa.ninjs"
    assert (await w.client.get(url)).status_code == 401
    bad = await w.client.get(url, headers={"X-Feed-Token": "wrong"})
    assert bad.status_code == 401
    got = await w.client.get(url, headers={"Authorization": f"Bearer {w.token}"})
    assert got.status_code == 200
    assert got.headers["cache-control"] == "private, max-age=60"
    assert len([valid(d) for d in got.json()]) == 2


async def test_the_fast_path_leaves_ninjs_to_the_routes(w: SimpleNamespace) -> None:
    """``FeedDocuments`` answers feed documents before routing (unless a request is traced):
    it leaves ``.ninjs`` to these routes, so traced or not, the answer is the same."""
    url = "/feeds/tehran/en.ninjs"
    plain = await w.client.get(url)
    traced = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert plain.status_code == 200, plain.text
    assert (await w.client.get(url, headers=traced)).content == plain.content
