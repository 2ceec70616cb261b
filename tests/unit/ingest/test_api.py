"""The editors' API without infrastructure: keys, forms and readable errors (fakes behind it)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from fastapi import FastAPI

from services.ingest import api
from services.ingest.settings import IngestSettings
from shared.contracts import DateSource, IngestedArticle
from shared.registry import EditorKey, Publisher

T0 = datetime(2025, 1, 1, tzinfo=UTC)

KEYS = {
    "tehran-key": EditorKey(id="k_1", publisher="tehran", name="desk"),
    "tehran-submit-only": EditorKey(id="k_2", publisher="tehran", name="bot", scopes=["submit"]),
}


class FakeRegistry:
    async def editor_key(self, token: str) -> EditorKey | None:
        return KEYS.get(token)

    async def publisher(self, publisher_id: str) -> Publisher | None:
        return Publisher(id=publisher_id, name=publisher_id) if publisher_id == "tehran" else None


class FakeBroker:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.down: Exception | None = None
        self.acknowledged = asyncio.Event()  # cleared: the cluster never acknowledges
        self.acknowledged.set()

    async def publish(self, message: dict[str, Any], **_: Any) -> None:
        if self.down:
            raise self.down
        await self.acknowledged.wait()
        self.sent.append(message)


class FakeStore:
    def __init__(self) -> None:
        self.known: set[str] = set()

    async def exists(self, article_id: str) -> bool:
        return article_id in self.known

    async def latest(self, article_id: str) -> IngestedArticle | None:
        """A stored version 1 of tehran's article 42 for the known ids."""
        if article_id not in self.known:
            return None
        return IngestedArticle(
            article_id=article_id, version=1, publisher="tehran", language="fa",
            headline="تیتر", body_html="<p>متن</p>", body_text="متن", external_id="42",
            published=T0, published_source=DateSource.EDITOR, content_hash="stored",
            ingested_at=T0,
        )  # fmt: skip


@pytest.fixture
def world() -> SimpleNamespace:
    broker, store = FakeBroker(), FakeStore()
    rt = SimpleNamespace(registry=FakeRegistry(), broker=broker, log=logging.getLogger("test"))
    app = FastAPI()
    settings = IngestSettings(max_submission_bytes=10_000, publish_timeout_seconds=0.2)
    api.install(app, rt, store, settings, None)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return SimpleNamespace(client=client, broker=broker, store=store)


ARTICLE = {"headline": "تیتر", "body_text": "متن", "external_id": "42"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_key_decides_the_publisher(world: SimpleNamespace) -> None:
    ok = await world.client.post("/articles", json=ARTICLE, headers=auth("tehran-key"))
    assert ok.status_code == 202 and ok.json()["article_id"].startswith("tehran-")
    assert world.broker.sent[0]["publisher"] == "tehran"
    other = await world.client.post(
        "/articles", json={**ARTICLE, "publisher": "mashhad"}, headers=auth("tehran-key")
    )
    assert other.status_code == 403 and "cannot publish as 'mashhad'" in other.json()["reason"]
    assert other.json()["code"] == "publisher_mismatch"
    missing = await world.client.post("/articles", json=ARTICLE)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "key_missing"
    wrong = await world.client.post("/articles", json=ARTICLE, headers=auth("x"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "key_invalid"


async def test_scopes_separate_submitting_correcting_and_withdrawing(
    world: SimpleNamespace,
) -> None:
    bot = auth("tehran-submit-only")
    first = await world.client.post("/articles", json=ARTICLE, headers=bot)
    assert first.status_code == 202
    world.store.known.add(first.json()["article_id"])
    again = await world.client.post("/articles", json={**ARTICLE, "body_text": "نو"}, headers=bot)
    assert again.status_code == 403 and "may not correct" in again.json()["reason"]
    assert again.json()["code"] == "key_scope_missing"
    gone = await world.client.post(
        "/articles", json={**ARTICLE, "pubstatus": "canceled"}, headers=bot
    )
    assert gone.status_code == 403 and "may not withdraw" in gone.json()["reason"]


async def test_pages_in_any_content_type_and_readable_refusals(world: SimpleNamespace) -> None:
    key = auth("tehran-key")
    page = "<html><body><h1>تیتر صفحه</h1><p>" + "متن خبر اصلی. " * 20 + "</p></body></html>"
    html = await world.client.post(
        "/articles/preview", content=page, headers={**key, "Content-Type": "text/html"}
    )
    assert html.status_code == 200 and html.json()["headline"] == "تیتر صفحه"
    assert html.json()["input_form"] == "page"
    cases = [
        (b"\xff\xfe", "application/json", 422, "not valid UTF-8", "upload_not_utf8"),
        (b"<p>\xff</p>", "text/html", 422, "not valid UTF-8", "upload_not_utf8"),
        (b"{", "application/json", 422, "not valid JSON", "article_invalid"),
        (b"[]", "application/json", 422, "must be a JSON object", "article_invalid"),
        (b"%PDF", "application/pdf", 415, "cannot read 'application/pdf", "media_type_unsupported"),
        (b"x" * 20_000, "text/plain", 413, "limit", "payload_too_large"),
    ]
    for body, ctype, status, words, code in cases:
        resp = await world.client.post(
            "/articles", content=body, headers={**key, "Content-Type": ctype}
        )
        assert resp.status_code == status, (body[:10], resp.text)
        assert words in resp.json()["reason"] and resp.json()["code"] == code, resp.text


async def test_parameters_fastapi_checks_are_refused_like_everything_else(
    world: SimpleNamespace,
) -> None:
    key = auth("tehran-key")
    for path, words in [
        ("/articles?limit=0", "query.limit: Input should be greater than or equal to 1"),
        ("/articles?limit=many", "query.limit: Input should be a valid integer"),
        ("/glossary/0", "path.language: String should match pattern"),
    ]:
        resp = await world.client.get(path, headers=key)
        assert resp.status_code == 422, path
        body = resp.json()
        assert set(body) == {"error", "code", "reason"} and words in body["reason"], body
        assert body["code"] == "request_invalid"


@pytest.mark.parametrize(
    "outage",
    [
        KafkaConnectionError("no broker"),
        # Not even queued within the request timeout (the producer's buffer full while the
        # cluster acknowledges nothing): was a 500, aiokafka calling it not retriable.
        KafkaTimeoutError("batch expired"),
    ],
)
async def test_an_outage_is_a_503_with_retry_after(
    world: SimpleNamespace, outage: Exception
) -> None:
    world.broker.down = outage
    resp = await world.client.post("/articles", json=ARTICLE, headers=auth("tehran-key"))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
    assert resp.json()["error"] == "unavailable" and resp.json()["code"] == "unavailable"


async def test_a_publish_never_acknowledged_is_a_503_not_a_hang(world: SimpleNamespace) -> None:
    """An idempotent producer retries until the cluster has its in-sync replicas again, so
    without a deadline an editor's request hung for the whole outage."""
    world.broker.acknowledged.clear()
    resp = await world.client.post("/articles", json=ARTICLE, headers=auth("tehran-key"))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
    assert resp.json()["code"] == "unavailable"


async def test_the_openapi_document_describes_every_input_form(world: SimpleNamespace) -> None:
    doc = (await world.client.get("/openapi.json")).json()
    body = doc["paths"]["/articles"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/html", "text/plain"}
    schemas = doc["components"]["schemas"]
    assert {"SubmittedArticle", "SubmittedNinjs", "SubmittedPage", "Withdrawal"} <= set(schemas)
    assert len(schemas["Submission"]["oneOf"]) == 4
