"""The HTTP APIs fuzzed against their own OpenAPI documents (schemathesis).

* The feeds service's public API (feeds, archives, entries, directory, WebSub hub), running,
  with the suite's data behind it.
* The registry admin API in this process, on a database of its own on the suite's real server,
  so that the fuzz may create, replace and delete anything without touching the registry the
  other tests share.
* The editors' (ingest) API, running: the operations that publish nothing.

Requests come from the OpenAPI document; ids, languages, feed names and tokens the system
knows are mixed in so that the fuzz gets past "not found" and "unauthorised". Each answer must:
never be a 5xx; be documented (status, content type, body schema); a 4xx must carry a reason a
person can read (JSON ``{"error", "code", "reason"}``; plain text from the WebSub hub, as WebSub
recommends). Counts per operation are printed (``-s``) for docs/reliability.md."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pymongo import AsyncMongoClient
from schemathesis import GenerationMode
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    NegativeDataRejectionConfig,
)
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from services.feeds import admin
from shared.registry import Registry, read_registry
from tests.integration.conftest import FIXTURES, System, await_article

pytestmark = pytest.mark.integration

#: Per operation and generation mode: about 25 s for the three APIs; FUZZ_EXAMPLES=500 digs
#: deeper (a few minutes).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
#: Not checked: a request the schema allows may still be refused for what a schema cannot say
#: (a partner listing a publisher that does not exist is a 422 with that reason).
EXCLUDED = [positive_data_acceptance]
#: Nor, on partner feeds, whether spoiled credentials are refused: a partner token is accepted in
#: three places, and when schemathesis spoils one while a valid one is left in another, a 200 is
#: right (test_access.py tries every refusal by hand).
EXCLUDED_PARTNER_FEEDS = [*EXCLUDED, ignored_auth]
FIGURES: dict[str, Counter[str]] = {}


def judge(case: schemathesis.Case, response: Any, headers: dict[str, str]) -> None:
    """The checks every answer must pass; the answer's status counted for the figures."""
    FIGURES.setdefault(case.operation.label, Counter())[str(response.status_code)] += 1
    assert response.status_code < 500, (case.operation.label, response.status_code, response.text)
    if response.status_code == 400 and response.text == "Invalid HTTP request received.":
        return  # the HTTP server's own answer (negative cases can break HTTP itself): no app ran
    partner_feed = case.operation.path.startswith("/partners/")
    excluded = EXCLUDED_PARTNER_FEEDS if partner_feed else EXCLUDED
    case.validate_response(response, excluded_checks=excluded, headers=headers)
    if 400 <= response.status_code < 500:
        ctype = (response.headers.get("content-type") or [""])[0]
        if ctype.startswith("text/plain"):  # the WebSub hub's
            assert case.operation.path == "/websub" and response.text.strip(), response.text
        else:
            body = response.json()
            assert isinstance(body, dict) and set(body) == {"error", "code", "reason"}, body
            assert body["reason"].strip(), body


def maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    """One of the values the system knows (three times in four), or None: keep what the schema
    made."""
    if not values:
        return st.none()
    return st.sampled_from([False, True, True, True]).flatmap(
        lambda known: st.sampled_from(values) if known else st.none()
    )


def operations(schema: Any, prefix: str) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path.startswith(prefix)]


# ---------------------------------------------------------------------- the public API


PUBLIC = [
    ("GET", "/feeds/{publisher}/{name}"),
    ("GET", "/feeds/{publisher}/{lang}/archive/{name}"),
    ("GET", "/networks/{network}/{name}"),
    ("GET", "/networks/{network}/{lang}/archive/{name}"),
    ("GET", "/partners/{partner}/{name}"),
    ("GET", "/partners/{partner}/{lang}/archive/{name}"),
    ("GET", "/entries/{article_id}/{lang}"),
    ("GET", "/feeds"),
    ("GET", "/feeds.opml"),
    ("POST", "/websub"),
]


@pytest.fixture(scope="module")
def public_schema(system: System) -> Any:
    schema = schemathesis.openapi.from_url(system.url("feeds", "/openapi.json"))
    documented = {(op.method.upper(), op.path) for op in operations(schema, "/")}
    assert set(PUBLIC) <= documented  # every public operation is in the document
    return schema


@pytest.fixture(scope="module")
async def known_article(system: System, http: httpx.AsyncClient) -> str:
    """An article the feeds know, so that entry pages are found as well as missed."""
    tag = uuid.uuid4().hex[:8]
    resp = await http.post(
        system.url("ingest", "/articles"),
        json={"headline": f"خبر آزمون فاز {tag}", "body_text": "متن خبر.", "external_id": tag},
        headers=system.auth("gorgan"),
    )
    assert resp.status_code == 202, resp.text
    ident: str = resp.json()["article_id"]
    await await_article(system, http, "gorgan", ident, lambda a: a["announced_version"] == 1)
    async with asyncio.timeout(30):
        while True:
            if (await http.get(system.url("feeds", f"/entries/{ident}/fa"))).status_code == 200:
                break
            await asyncio.sleep(0.1)  # poll interval while the feeds service stores the entry
    return ident


@pytest.mark.parametrize(("method", "path"), PUBLIC, ids=[f"{m} {p}" for m, p in PUBLIC])
def test_the_public_feeds_api_keeps_to_its_openapi_document(
    system: System, public_schema: Any, known_article: str, method: str, path: str
) -> None:
    op = public_schema[path][method]
    base = system.url("feeds")
    kazan, istanbul = system.partner_tokens["kazan"], system.partner_tokens["istanbul"]
    known = {
        "publisher": ["mashhad", "tehran", "gorgan"],
        "network": ["metropolis"],
        "partner": ["kazan", "istanbul"],
        "lang": ["fa", "en", "ar", "ru", "tr"],
        "name": (
            ["0.atom", "0.rss", "0.json", "1.atom", "-1.atom", "0.pdf"]  # archive pages
            if "/archive/" in path
            else ["fa.atom", "en.rss", "ar.json", "ru.atom", "en.pdf", "x"]
        ),
        "article_id": [known_article, f"{known_article}x"],
    }
    topics = [
        f"{base}/feeds/gorgan/en.atom",
        f"{base}/networks/metropolis/fa.rss",
        f"{base}/partners/kazan/en.atom",
        f"{base}/partners/kazan/en.atom?token={kazan}",
        f"{base}/partners/kazan/en.atom?token={istanbul}",
        f"{base}/feeds/nowhere/en.atom",
    ]
    tokens = st.sampled_from(
        [
            {},
            {"Authorization": f"Bearer {kazan}"},
            {"X-Feed-Token": kazan},
            {"token": kazan},
            {"Authorization": f"Bearer {istanbul}"},
            {"X-Feed-Token": "cfp_kazan_guess"},
        ]
    )
    modes = [GenerationMode.POSITIVE]
    if op.body:  # only the hub's form has anything a request could get wrong by the schema
        modes.append(GenerationMode.NEGATIVE)

    def fuzz(mode: GenerationMode) -> None:
        @SETTINGS
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(op.as_strategy(generation_mode=mode))
            if mode.is_positive:
                for name in list(case.path_parameters or {}):
                    value = data.draw(maybe(known.get(name, [])), label=name)
                    if value is not None:
                        case.path_parameters[name] = value
                if isinstance(case.body, dict):
                    for field, values in [
                        ("hub.topic", topics),
                        ("hub.callback", ["http://127.0.0.1:9/websub-fuzz"]),
                    ]:
                        value = data.draw(maybe(values), label=field)
                        if value is not None:
                            case.body[field] = value
            headers: dict[str, str] = {}
            params: dict[str, str] = {}
            if path.startswith("/partners/"):
                given_token = data.draw(tokens, label="token")
                params = {k: v for k, v in given_token.items() if k == "token"}
                headers = {k: v for k, v in given_token.items() if k != "token"}
            response = case.call(base_url=base, headers=headers, params=params, timeout=10)
            judge(case, response, headers)

        run()

    for mode in modes:
        fuzz(mode)
    print(f"\n{method} {path}: {dict(FIGURES.get(op.label, {}))}")


# ---------------------------------------------------------------------- the admin API


ADMIN_TOKEN = f"fuzz-admin-{uuid.uuid4().hex}"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def seed(base: str) -> None:
    """The suite's registry, through the API: what the previous operation's fuzz deleted is
    back, so that each operation starts from partners, networks and publishers that exist."""
    publishers, networks, partners = read_registry(FIXTURES / "registry.yaml")
    for kind, entries in [("publishers", publishers), ("networks", networks)]:
        for entry in entries:
            body = entry.model_dump(mode="json", exclude={"id"})
            resp = httpx.put(f"{base}/admin/{kind}/{entry.id}", json=body, headers=ADMIN_AUTH)
            assert resp.status_code in (200, 201), resp.text
    for partner in partners:
        body = partner.model_dump(mode="json", exclude={"id"})
        resp = httpx.put(f"{base}/admin/partners/{partner.id}", json=body, headers=ADMIN_AUTH)
        assert resp.status_code in (200, 201), resp.text


@pytest.fixture(scope="module")
def admin_api(system: System) -> Iterator[str]:
    """The admin API (the feeds service's own code) served from this process over HTTP, on a
    database of its own; its base URL (each test loads the registry through the API: seed)."""
    database = f"{system.infra.database}_admin_fuzz"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(system.infra.mongodb_uri)
    db = client[database]
    app = FastAPI(title="City syndication: feeds (admin API under fuzz)")
    admin.install(app, Registry(db), db, ADMIN_TOKEN)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the admin API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        from pymongo import MongoClient

        with MongoClient(system.infra.mongodb_uri) as sync:
            sync.drop_database(database)


@pytest.fixture(scope="module")
def admin_schema(admin_api: str) -> Any:
    return schemathesis.openapi.from_url(f"{admin_api}/openapi.json")


ADMIN_OPS = [
    ("GET", "/admin/registry"),
    ("PUT", "/admin/publishers/{publisher_id}"),
    ("DELETE", "/admin/publishers/{publisher_id}"),
    ("GET", "/admin/publishers/{publisher_id}/keys"),
    ("POST", "/admin/publishers/{publisher_id}/keys"),
    ("DELETE", "/admin/publishers/{publisher_id}/keys/{key_id}"),
    ("PUT", "/admin/networks/{network_id}"),
    ("DELETE", "/admin/networks/{network_id}"),
    ("PUT", "/admin/partners/{partner_id}"),
    ("DELETE", "/admin/partners/{partner_id}"),
    ("GET", "/admin/partners/{partner_id}/tokens"),
    ("POST", "/admin/partners/{partner_id}/tokens"),
    ("POST", "/admin/partners/{partner_id}/tokens/rotate"),
    ("DELETE", "/admin/partners/{partner_id}/tokens/{token_id}"),
]


def test_every_admin_operation_is_fuzzed(admin_schema: Any, system: System) -> None:
    documented = {(op.method.upper(), op.path) for op in operations(admin_schema, "/admin")}
    assert documented == set(ADMIN_OPS)
    public = schemathesis.openapi.from_url(system.url("feeds", "/openapi.json"))
    assert {(op.method.upper(), op.path) for op in operations(public, "/admin")} == documented


@pytest.mark.parametrize(("method", "path"), ADMIN_OPS, ids=[f"{m} {p}" for m, p in ADMIN_OPS])
def test_the_admin_api_keeps_to_its_openapi_document(
    admin_api: str, admin_schema: Any, method: str, path: str
) -> None:
    op = admin_schema[path][method]
    seed(admin_api)
    ids = ["mashhad", "tehran", "gorgan", "metropolis", "kazan", "istanbul", "bonn", "Kazan"]
    known = {
        "publisher_id": ids,
        "network_id": ids,
        "partner_id": ["kazan", "istanbul", "bonn"],
        "token_id": ["t_000000000000"],
        "key_id": ["k_0000000000"],
        "grace_days": ["0", "7", "0.5", "365", "366", "-1", "soon"],
    }
    bodies = {
        "publishers": [{"name": "Bonn", "language": "de", "translate_to": ["en"]}],
        "networks": [{"name": "Sister cities", "members": ["mashhad", "gorgan"]}],
        "partners": [
            {"name": "Bonn", "languages": ["de"], "publishers": ["mashhad"]},
            {"name": "Kazan", "languages": ["ru"], "networks": ["metropolis"]},
        ],
    }
    kind = path.split("/")[2]
    who = st.sampled_from(["admin"] * 4 + ["none", "wrong"])
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]  # the admin token, bodies, query

    def fuzz(mode: GenerationMode) -> None:
        @SETTINGS
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(op.as_strategy(generation_mode=mode))
            if mode.is_positive:
                for name in list(case.path_parameters or {}):
                    value = data.draw(maybe(known.get(name, [])), label=name)
                    if value is not None:
                        case.path_parameters[name] = value
                if case.query is not None and "grace_days" in case.query:
                    value = data.draw(maybe(known["grace_days"]), label="grace_days")
                    if value is not None:
                        case.query["grace_days"] = value
                if method == "PUT":
                    body = data.draw(maybe(bodies[kind]), label="body")
                    if body is not None:
                        case.body = body
            if method == "DELETE" and "{token_id}" in path and data.draw(st.booleans()):
                issued = httpx.post(  # a token that exists, to be revoked
                    f"{admin_api}/admin/partners/kazan/tokens", headers=ADMIN_AUTH
                )
                if issued.status_code == 201:
                    case.path_parameters = {"partner_id": "kazan", "token_id": issued.json()["id"]}
            if method == "DELETE" and "{key_id}" in path and data.draw(st.booleans()):
                issued = httpx.post(  # a key that exists, to be revoked
                    f"{admin_api}/admin/publishers/gorgan/keys",
                    headers=ADMIN_AUTH,
                    json={"name": "fuzz"},
                )
                if issued.status_code == 201:
                    case.path_parameters = {"publisher_id": "gorgan", "key_id": issued.json()["id"]}
            headers = {
                "admin": ADMIN_AUTH,
                "none": {},
                "wrong": {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
            }[data.draw(who, label="who")]
            response = case.call(base_url=admin_api, headers=headers, timeout=10)
            judge(case, response, headers)

        run()

    for mode in modes:
        fuzz(mode)
    print(f"\n{method} {path}: {dict(FIGURES.get(op.label, {}))}")


# ---------------------------------------------------------------------- the editors' API


#: What of the ingest API is fuzzed here: everything that publishes nothing (random articles
#: would crowd the feeds other tests read, a random glossary would change their translations).
#: POST /articles itself has its own fuzz in test_ingest.py.
INGEST_OPS = [
    ("GET", "/articles"),
    ("GET", "/articles/{article_id}"),
    ("DELETE", "/articles/{article_id}"),
    ("POST", "/articles/preview"),
    ("PUT", "/articles/{article_id}/translations/{language}"),
    ("GET", "/glossary/{language}"),
]


@pytest.fixture(scope="module")
def ingest_schema(system: System) -> Any:
    schema = schemathesis.openapi.from_url(system.url("ingest", "/openapi.json"))
    # Invalid data may also be too much of it: the body limit's 413 (shared/bodylimit.py) refuses
    # it before anything is parsed, which is a rejection as good as a 422.
    statuses = [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
        expected_statuses=statuses
    )
    return schema


@pytest.mark.parametrize(("method", "path"), INGEST_OPS, ids=[f"{m} {p}" for m, p in INGEST_OPS])
def test_the_editors_api_keeps_to_its_openapi_document(
    system: System, ingest_schema: Any, known_article: str, method: str, path: str
) -> None:
    op = ingest_schema[path][method]
    base = system.url("ingest")
    known = {"article_id": [known_article, "mashhad-0", "tehran-0"], "language": ["en", "fa", "tr"]}
    keys = [system.auth("gorgan"), system.auth("mashhad"), {}, {"X-API-Key": "cfk_gorgan_guess"}]

    def fuzz(mode: GenerationMode) -> None:
        @SETTINGS
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(op.as_strategy(generation_mode=mode))
            if mode.is_positive:
                for name in list(case.path_parameters or {}):
                    value = data.draw(maybe(known.get(name, [])), label=name)
                    if value is not None:
                        case.path_parameters[name] = value
                if isinstance(case.body, dict) and data.draw(st.booleans(), label="as key"):
                    case.body.pop("publisher", None)  # the key's publisher: past the 403
            headers = data.draw(st.sampled_from(keys), label="key")
            response = case.call(base_url=base, headers=headers, timeout=10)
            judge(case, response, headers)

        run()

    fuzz(GenerationMode.POSITIVE)
    try:
        fuzz(GenerationMode.NEGATIVE)
    except Unsatisfiable:
        assert not op.body and not op.query  # only a plain string in the path: nothing to break
    print(f"\n{method} {path}: {dict(FIGURES.get(op.label, {}))}")


# ---------------------------------------------------------------------- the people's pages


#: Path segments, form fields and cookies a browser (or someone poking at one) may send: the
#: ids the system knows, markup, header injection, traversal, and hypothesis's own text.
NASTY = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "kazan\r\nSet-Cookie: evil=1",
    "kazan;path=/",
    "../../etc/passwd",
    "٪۲۰",
    "",
]
#: Page requests are cheap: five times the examples of an API operation (about 10 s a test).
PAGE_SETTINGS = settings(SETTINGS, max_examples=EXAMPLES * 5)
#: Markup that must never come back unescaped in a page.
RAW_MARKUP = ("<script>alert(1)", "<img src=x onerror")


def words(known: list[str]) -> st.SearchStrategy[str]:
    """Half the time a value the system knows; else something nasty or anything at all."""
    known = known or NASTY
    return st.one_of(
        st.sampled_from(known), st.sampled_from(known), st.sampled_from(NASTY), st.text(max_size=30)
    )


def segment(value: str) -> str:
    """One path segment, whatever it holds (an empty one is still a segment)."""
    return urllib.parse.quote(value, safe="") or "%20"


def judge_page(label: str, url: str, response: httpx.Response) -> None:
    FIGURES.setdefault(label, Counter())[str(response.status_code)] += 1
    method = response.request.method
    assert response.status_code < 500, (method, url, response.status_code, response.text[:500])
    if response.headers.get("content-type", "").startswith("text/html"):
        for markup in RAW_MARKUP:
            assert markup not in response.text, (method, url, "reflected unescaped")
    for name, value in response.headers.multi_items():
        assert "\n" not in value and "\r" not in value, (name, value)


def test_the_partner_portal_never_fails_and_never_reflects_markup(system: System) -> None:
    """The portal's pages (directory, previews, a partner's sign-in with its token, sign-out)
    are HTML, outside the OpenAPI document: fuzzed here for 5xx, unescaped input and headers
    broken by what a path or a form carried."""
    feeds = system.url("feeds")
    tokens = list(system.partner_tokens.values())
    ids = ["mashhad", "tehran", "gorgan", "metropolis", "kazan", "istanbul"]
    langs = ["fa", "en", "ar", "ru", "tr", "xx"]
    origins = st.sampled_from([None, feeds, "http://elsewhere.example", "null"])

    @PAGE_SETTINGS
    @given(
        kind=st.sampled_from(["preview", "partner", "sign-in", "sign-out", "directory", "asset"]),
        ref=st.one_of(
            st.sampled_from(
                [
                    ("feeds", "mashhad", "fa"),
                    ("feeds", "gorgan", "en"),
                    ("networks", "metropolis", "ar"),
                    ("partners", "kazan", "ru"),
                    ("partners", "istanbul", "tr"),
                ]
            ),
            st.tuples(words(["feeds", "networks", "partners"]), words(ids), words(langs)),
        ),
        token=st.one_of(st.none(), st.sampled_from(tokens), st.text(max_size=60)),
        origin=origins,
    )
    def run(kind: str, ref: tuple[str, str, str], token: str | None, origin: str | None) -> None:
        root, key, lang = ref
        headers = {"Origin": origin} if origin else {}
        # A cookie value a client can send at all: h11 refuses a header ending in whitespace.
        sendable = token and token.isascii() and token.isprintable() and token == token.strip()
        cookies = {"partner_token": token} if sendable else {}
        with httpx.Client(base_url=feeds, timeout=10, cookies=cookies) as client:
            if kind == "preview":
                url = f"/preview/{segment(root)}/{segment(key)}/{segment(lang)}"
                response = client.get(url, headers=headers)
            elif kind == "partner":
                url = f"/preview/partners/{segment(key)}"
                response = client.get(url, headers=headers)
            elif kind == "sign-in":
                url = "/preview/partners"
                form = {"partner": key, "token": token or ""}
                response = client.post(url, data=form, headers=headers)
            elif kind == "sign-out":
                url = f"/preview/partners/{segment(key)}/sign-out"
                response = client.post(url, headers=headers)
            elif kind == "directory":
                url = f"/feeds?{urllib.parse.urlencode({'q': key, 'lang': lang})}"
                response = client.get(url)
            else:
                url = f"/assets/{segment(key)}"
                response = client.get(url)
        judge_page(f"portal {kind}", url, response)

    run()
    print("\n" + "\n".join(f"{k}: {dict(v)}" for k, v in FIGURES.items() if k.startswith("portal")))


def test_the_editor_desk_never_fails_and_never_reflects_markup(system: System) -> None:
    """The desk's pages, signed out and signed in: random keys at sign-in, random article ids
    and languages, and random text to preview (a preview publishes nothing)."""
    ingest = system.url("ingest")
    signed = httpx.Client(base_url=ingest, timeout=10)
    signed.post("/desk/login", data={"key": system.keys["mashhad"], "next": "/desk/articles"})
    compose = signed.get("/desk/compose")
    assert compose.status_code == 200, compose.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', compose.text)
    assert found, compose.text
    csrf = found.group(1)
    sample = (FIXTURES / "samples" / "mashhad-jahanshahr-portal-launch.txt").read_text()
    listed = httpx.get(f"{ingest}/articles", headers=system.auth("mashhad"), timeout=10)
    articles = [a["article_id"] for a in listed.json()[:3]]

    @PAGE_SETTINGS
    @given(
        kind=st.sampled_from(["sign-in", "article", "compare", "preview", "next"]),
        text=words([system.keys["mashhad"], system.keys["tehran"], "/desk/articles", sample]),
        article=words(articles),
        lang=words(["en", "ar", "ru", "fa", "xx"]),
    )
    def run(kind: str, text: str, article: str, lang: str) -> None:
        if kind == "sign-in":
            url = "/desk/login"
            with httpx.Client(base_url=ingest, timeout=10) as anonymous:
                response = anonymous.post(url, data={"key": text, "next": article})
        elif kind == "next":
            url = f"/desk/login?{urllib.parse.urlencode({'next': text})}"
            response = signed.get(url)
        elif kind == "article":
            url = f"/desk/articles/{segment(article)}"
            response = signed.get(url)
        elif kind == "compare":
            url = f"/desk/articles/{segment(article)}/translations/{segment(lang)}"
            response = signed.get(url)
        else:
            url = "/desk/compose"
            form = {"csrf": csrf, "format": "auto", "action": "preview", "content": text}
            response = signed.post(url, data=form)
        judge_page(f"desk {kind}", url, response)

    try:
        run()
    finally:
        signed.close()
    print("\n" + "\n".join(f"{k}: {dict(v)}" for k, v in FIGURES.items() if k.startswith("desk")))
