"""Every HTML page of every service, on the real stack, carries a strict Content-Security-Policy
(issue 18, finding 8): the editor desk's pages and its error pages, the public directory, the
entry pages, the portal's previews and its error pages, and FastAPI's API pages. No page may
allow inline scripts, and no page of ours allows any script from elsewhere."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.conftest import System

pytestmark = pytest.mark.integration


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def directives(policy: str) -> dict[str, list[str]]:
    """``{"script-src": ["'self'"], …}`` of a CSP header."""
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_strict(resp: httpx.Response, *, ours: bool = True) -> None:
    """An HTML answer whose CSP runs no inline script (ours: only the page's own scripts)."""
    where = f"{resp.request.method} {resp.request.url} ({resp.status_code})"
    assert resp.headers["content-type"].startswith("text/html"), where
    policy = resp.headers.get("content-security-policy")
    assert policy, f"no CSP on {where}"
    found = directives(policy)
    scripts = found.get("script-src", found.get("default-src"))
    assert scripts, f"{where}: {policy}"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert found.get("frame-ancestors") == ["'none'"] and found.get("base-uri") == ["'none'"]
    assert found.get("object-src", found.get("default-src")) in (["'none'"], ["'self'"]), where
    if ours:
        assert scripts == ["'self'"] and found["default-src"] == ["'self'"], where
        assert "'unsafe-inline'" not in found.get("style-src", []), where
    assert resp.headers.get("x-content-type-options") == "nosniff", where


async def desk_session(http: httpx.AsyncClient, system: System) -> httpx.Cookies:
    signed = await http.post(
        system.url("ingest", "/desk/login"), data={"key": system.keys["tehran"]}
    )
    assert signed.status_code == 303, signed.text
    return signed.cookies


async def an_entry(http: httpx.AsyncClient, system: System) -> str:
    """The path of a published entry page (an article of Tehran's, in Persian)."""
    tag = uuid.uuid4().hex[:8]
    sent = await http.post(
        system.url("ingest", "/articles"),
        json={
            "headline": f"صفحه امن {tag}",
            "body_text": "متن خبر.",
            "external_id": f"csp-{tag}",
            "url": "https://www.tehran.ir/news/1",
        },
        headers=system.auth("tehran"),
    )
    assert sent.status_code == 202, sent.text
    path = f"/entries/{sent.json()['article_id']}/fa"
    for _ in range(600):  # until the feeds service has it (each try is one request)
        if (await http.get(system.url("feeds", path))).status_code == 200:
            return path
    raise AssertionError(f"{path} never appeared")


async def test_every_html_page_of_the_desk_carries_the_strict_csp(
    http: httpx.AsyncClient, system: System
) -> None:
    ingest = system.url("ingest")
    for path in ("/desk/login", "/desk/login?next=/desk/compose"):
        assert_strict(await http.get(ingest + path))
    wrong = await http.post(ingest + "/desk/login", data={"key": "not-a-key"})
    assert wrong.status_code == 401
    assert_strict(wrong)
    cookies = await desk_session(http, system)
    pages = ("/desk/articles", "/desk/compose", "/desk/articles/tehran-nothing-here")
    async with httpx.AsyncClient(timeout=30, cookies=cookies) as desk:
        for path in pages:
            resp = await desk.get(ingest + path)
            assert resp.status_code in (200, 404), (path, resp.status_code)
            assert_strict(resp)
        refused = await desk.post(ingest + "/desk/compose", data={"content": "x"})
    assert refused.status_code == 403  # no CSRF token: the refusal is a page too
    assert_strict(refused)


async def test_every_html_page_of_the_feeds_service_carries_the_strict_csp(
    http: httpx.AsyncClient, system: System
) -> None:
    feeds = system.url("feeds")
    entry = await an_entry(http, system)
    pages = {
        "/feeds": 200,
        entry: 200,
        "/preview/feeds/tehran/fa": 200,
        "/preview/partners/kazan": 401,
        "/preview/partners/kazan/fa": 401,
        "/preview/feeds/nowhere/fa": 404,
        "/preview/elsewhere/tehran/fa": 404,
    }
    for path, status in pages.items():
        resp = await http.get(feeds + path)
        assert resp.status_code == status, (path, resp.status_code)
        assert_strict(resp)
    # Every route the API documents as HTML is among those checked above.
    schema = (await http.get(feeds + "/openapi.json")).json()
    documented = {
        path
        for path, methods in schema["paths"].items()
        for op in methods.values()
        for answer in op.get("responses", {}).values()
        if "text/html" in answer.get("content", {})
    }
    assert documented == {"/feeds", "/entries/{article_id}/{lang}"}, documented
    page = (await http.get(feeds + entry)).text
    assert "<style" not in page and "<script" not in page  # nothing the CSP would block
    assert re.search(r'<link rel="stylesheet" href="/assets/pages.css">', page)
    assert 'href="https://www.tehran.ir/news/1">Original</a>' in page
    partner = await http.post(feeds + "/preview/partners", data={"partner": "kazan", "token": "x"})
    assert partner.status_code == 401
    assert_strict(partner)


async def test_the_api_pages_allow_their_own_script_by_hash_only(
    http: httpx.AsyncClient, system: System
) -> None:
    """FastAPI's /docs starts Swagger UI with an inline script: allowed by its SHA-256, so an
    injected script would still not run; /redoc has none of its own."""
    for service in ("ingest", "translate", "feeds"):
        for path in ("/docs", "/redoc"):
            resp = await http.get(system.url(service, path))
            assert resp.status_code == 200, (service, path)
            assert_strict(resp, ours=False)
            scripts = directives(resp.headers["content-security-policy"])["script-src"]
            hashes = [s for s in scripts if s.startswith("'sha256-")]
            assert len(hashes) == (1 if path == "/docs" else 0), (service, path, scripts)
