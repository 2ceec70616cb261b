"""Refusals carry a stable ``code`` beside the English ``reason`` in every service's JSON, and the
editor desk shows them by code in the interface language: every code it can raise has a
message, every message belongs to a code that is raised, and every code is documented."""

from __future__ import annotations

import ast
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.ingest import api, desk
from services.ingest.desk import pages, refusals
from services.ingest.desk.sessions import DeskSessions, Lifetimes
from services.ingest.settings import IngestSettings
from shared.i18n import Ui
from shared.ratelimit import RateLimit, parse_limits
from shared.registry import EditorKey, Publisher, key_digest
from tests.unit.feeds import test_admin, test_feeds_http

ROOT = Path(__file__).parents[3]
DESK_SOURCES = [
    ROOT / "services/ingest/api/editors.py",
    *(ROOT / "services/ingest/desk").glob("*.py"),
]
CODE = re.compile(r'code="([a-z0-9_]+)"')
KEYS = {"tehran-key": EditorKey(id="k_1", publisher="tehran", name="desk")}


class Registry:
    async def editor_key(self, token: str) -> EditorKey | None:
        return KEYS.get(token)

    async def editor_key_for_digest(self, digest: str) -> EditorKey | None:
        return {key_digest(t): k for t, k in KEYS.items()}.get(digest)

    async def publisher(self, publisher_id: str) -> Publisher | None:
        return Publisher(id="tehran", name="Tehran") if publisher_id == "tehran" else None


class Nothing:
    """The broker, the article store and the sessions' collection: none is reached here."""

    async def publish(self, message: dict[str, Any], **_: Any) -> None:
        raise AssertionError("a refused request published something")

    async def latest(self, article_id: str) -> None:
        return None

    async def article(self, article_id: str) -> tuple[None, list[dict[str, Any]]]:
        return None, []

    async def find_one(self, query: dict[str, Any]) -> None:
        return None


def ingest_client() -> httpx.AsyncClient:
    """The editors' API and the desk on one app, as the ingest service runs them."""
    rt = SimpleNamespace(registry=Registry(), broker=Nothing(), log=logging.getLogger("test"))
    app = FastAPI()
    settings = IngestSettings(max_submission_bytes=10_000)
    editors = api.install(app, rt, Nothing(), settings, None)  # type: ignore[arg-type]
    lifetimes = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    now = datetime(2025, 4, 29, tzinfo=UTC)
    sessions = DeskSessions(Nothing(), lifetimes, Registry().editor_key_for_digest, lambda: now)  # type: ignore[arg-type]
    desk.install(
        app,
        editors,
        transport=httpx.MockTransport(lambda _: httpx.Response(404)),
        sessions=sessions,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk.test")


def refused(resp: httpx.Response, status: int, code: str, words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "code", "reason"}, body
    assert body["code"] == code and words in body["reason"], body


async def test_the_editors_api_refuses_with_a_code_beside_the_english_reason() -> None:
    c, key = ingest_client(), {"Authorization": "Bearer tehran-key"}
    refused(await c.post("/articles", json={}), 401, "key_missing", "no editor key")
    wrong = await c.post("/articles", json={}, headers={"Authorization": "Bearer nope"})
    refused(wrong, 401, "key_invalid", "not valid (unknown or revoked)")
    elsewhere = {"headline": "h", "body_text": "b", "publisher": "mashhad"}
    mine = await c.post("/articles", json=elsewhere, headers=key)
    refused(mine, 403, "publisher_mismatch", "cannot publish as 'mashhad'")
    invalid = await c.post("/articles", json={"x": 1}, headers=key)
    refused(invalid, 422, "article_invalid", "headline: is required; x: is not a known field")
    latin1 = await c.post(
        "/articles", content=b"\xe9t\xe9", headers={**key, "Content-Type": "text/plain"}
    )
    refused(latin1, 422, "upload_not_utf8", "not valid UTF-8 (byte 0xe9 at 0)")
    pdf = await c.post(
        "/articles", content=b"%PDF", headers={**key, "Content-Type": "application/pdf"}
    )
    refused(pdf, 415, "media_type_unsupported", "cannot read 'application/pdf'")
    refused(await c.get("/articles?limit=0", headers=key), 422, "request_invalid", "query.limit")
    refused(await c.get("/articles/tehran-1", headers=key), 404, "article_not_found", "tehran-1")


async def test_the_feeds_apis_and_the_middlewares_refuse_with_a_code() -> None:
    admin = await test_admin.make()
    c = admin.client
    refused(await c.get("/admin/registry"), 401, "admin_token_missing", "no admin token")
    auth = test_admin.AUTH
    refused(
        await c.delete("/admin/networks/nowhere", headers=auth), 404, "network_not_found", "nowhere"
    )
    body = await c.put("/admin/partners/bonn", headers=auth, content=b"{")
    refused(body, 422, "json_invalid", "not valid JSON")
    refused(
        await c.put("/admin/partners/bonn", headers=auth, content=b"x" * 200_000),
        413,
        "payload_too_large",
        "limit",
    )

    feeds = await test_feeds_http.make()
    refused(await feeds.client.get("/feeds/nowhere/en.atom"), 404, "not_found", "nowhere")
    forged = await feeds.client.get("/partners/kazan/fa.atom", headers={"X-Feed-Token": "cfp_x"})
    refused(forged, 401, "feed_token_invalid", "unknown, revoked or expired")
    refused(await feeds.client.get("/partners/kazan/fa.atom"), 401, "feed_token_missing", "token")

    limited = RateLimit(FastAPI(), parse_limits("1/minute"), None)
    transport = httpx.ASGITransport(app=limited, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/x")
        refused(await client.get("/x"), 429, "rate_limited", "more than 1 requests per minute")


def login(client: httpx.AsyncClient, key: str, language: str) -> Any:
    return client.post("/desk/login", data={"key": key}, headers={"Accept-Language": language})


async def test_the_desk_shows_a_refusal_in_the_interface_language_with_its_reason_isolated() -> (
    None
):
    c = ingest_client()
    fa, en = await login(c, "wrong", "fa"), await login(c, "wrong", "en")
    assert fa.status_code == en.status_code == 401
    assert '<html lang="fa" dir="rtl">' in fa.text
    persian = Ui("fa", pages.LOCALES)
    message = refusals.MESSAGES["key_invalid"]
    assert persian.gettext(message) != message, "the Persian catalogue translates it"
    assert (
        f"<strong>{persian.gettext('Not signed in.')}</strong> {persian.gettext(message)}"
        in fa.text
    )
    reason = "this editor key is not valid (unknown or revoked)"
    detail = f'<bdi class="detail" lang="en" dir="ltr">{reason}</bdi>'
    assert detail in fa.text and detail in en.text
    assert f"<strong>Not signed in.</strong> {message}" in en.text
    # A message that says it all has no English reason after it.
    empty = await login(c, "", "en")
    assert refusals.MESSAGES["key_missing"] in empty.text and 'class="detail"' not in empty.text
    assert "Authorization: Bearer" not in empty.text  # the API's advice is not the desk's


def raised_codes(paths: list[Path]) -> set[str]:
    return {code for path in paths for code in CODE.findall(path.read_text(encoding="utf-8"))}


def test_every_code_the_desk_raises_has_a_message_and_every_message_is_raised() -> None:
    raised = raised_codes(DESK_SOURCES)
    assert raised - set(refusals.MESSAGES) == set(), "codes the desk shows without a message"
    everywhere = raised_codes(list((ROOT / "services").rglob("*.py")))
    assert set(refusals.MESSAGES) - everywhere == set(), "messages of codes never raised"
    assert set(refusals.MESSAGES) >= refusals.COMPLETE


def test_every_refusal_names_its_code() -> None:
    """A code is chosen where the refusal is raised, never derived from its English kind."""
    unnamed = []
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name in ("Refused", "error_response") and all(
                k.arg != "code" for k in node.keywords
            ):
                unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unnamed == []


def test_every_code_is_in_the_documentation_table() -> None:
    sources = [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
    table = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.M))
    assert raised_codes(sources) - documented == set()
    generic = {"publisher_not_found", "network_not_found", "partner_not_found", "rate_limited"}
    public = {"not_found", "feed_token_missing", "feed_token_invalid", "article_withdrawn"}
    assert generic | public <= documented


@pytest.mark.parametrize("language", ["fa", "ar", "ru"])
def test_every_desk_message_and_title_is_translated(language: str) -> None:
    ui = Ui(language, pages.LOCALES)
    wanted = [*refusals.MESSAGES.values(), *pages.TITLES.values(), pages.REFUSED]
    assert [m for m in wanted if ui.gettext(m) == m] == []
