"""The body limit middleware: declared and streamed bodies are cut at their route's limit, before
any handler parses them, whatever the handler does with the refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.bodylimit import DEFAULT_MAX_BYTES, limits_of

SMALL = 1000
BIG = 50_000


#: The start of a multipart form whose one file goes on and on (what Starlette would spool).
FILE_PART = b'--b\r\nContent-Disposition: form-data; name="key"; filename="k"\r\n\r\n'


class Command(BaseModel):
    text: str


def make_app() -> tuple[FastAPI, list[int]]:
    """An app whose routes read bodies the ways the services do; ``seen``: bodies handlers got."""
    api = FastAPI()
    limits = limits_of(api)
    assert limits.default == DEFAULT_MAX_BYTES
    limits.default = SMALL
    limits.allow("POST,PUT", "/uploads/{name}", BIG)
    seen: list[int] = []

    @api.post("/form")
    async def form(request: Request) -> dict[str, int]:
        parsed = await request.form()
        seen.append(len(parsed))
        return {"fields": len(parsed)}

    @api.post("/swallow")
    async def swallow(request: Request) -> JSONResponse:
        try:
            seen.append(len(await request.body()))
        except Exception:  # a handler that hides the failure must not win
            return JSONResponse({"ok": True})
        return JSONResponse({"ok": True})

    @api.post("/model")
    async def model(command: Command) -> dict[str, str]:  # FastAPI turns read errors into 400
        return {"text": command.text}

    @api.api_route("/uploads/{name}", methods=["POST", "PUT"])
    async def upload(name: str, request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    @api.get("/page")
    async def page() -> dict[str, str]:
        return {"ok": "yes"}

    return api, seen


class Chunks:
    """A chunked request body (no Content-Length) that counts what was taken from it."""

    def __init__(self, total: int, chunk: int = 256, head: bytes = b"") -> None:
        self.total, self.chunk, self.head, self.taken = total, chunk, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.taken += len(self.head)
            yield self.head
        while self.taken < self.total:
            self.taken += self.chunk
            yield b"x" * self.chunk


@pytest.fixture
def client() -> tuple[httpx.AsyncClient, list[int]]:
    api, seen = make_app()
    transport = httpx.ASGITransport(app=api)
    return httpx.AsyncClient(transport=transport, base_url="http://t"), seen


def assert_refused(resp: httpx.Response, *words: str) -> None:
    assert resp.status_code == 413, resp.text
    body = resp.json()
    assert body["error"] == "payload too large"
    for word in words:
        assert word in body["reason"], body["reason"]


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: tuple[httpx.AsyncClient, list[int]],
) -> None:
    c, seen = client
    resp = await c.post("/swallow", content=b"x" * (SMALL + 1))
    assert_refused(resp, f"is {SMALL + 1} bytes", f"the limit is {SMALL} bytes for POST /swallow")
    assert seen == []  # the handler never ran


@pytest.mark.parametrize("path", ["/form", "/swallow", "/model"])
async def test_a_chunked_body_is_cut_where_it_passes_the_limit(
    path: str, client: tuple[httpx.AsyncClient, list[int]]
) -> None:
    c, seen = client
    body = Chunks(10 * 1024 * 1024, head=FILE_PART)
    resp = await c.post(
        path, content=body, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_refused(resp, f"over {SMALL} bytes", f"the limit is {SMALL} bytes for POST {path}")
    assert body.taken <= SMALL + body.chunk  # nothing read past the chunk that crossed it
    assert seen == []


async def test_bodies_within_their_routes_limits_pass(
    client: tuple[httpx.AsyncClient, list[int]],
) -> None:
    c, seen = client
    assert (await c.post("/swallow", content=Chunks(SMALL, 100))).status_code == 200
    ok = await c.put("/uploads/page.html", content=Chunks(BIG - 1000, 1000))
    assert ok.status_code == 200 and ok.json() == {"bytes": BIG - 1000}
    assert seen == [SMALL, BIG - 1000]
    assert (await c.get("/page")).status_code == 200


async def test_each_route_has_its_own_limit(client: tuple[httpx.AsyncClient, list[int]]) -> None:
    c, _ = client
    big = await c.post("/uploads/x", content=Chunks(BIG + 1000, 500))
    assert_refused(big, f"over {BIG} bytes", "for POST /uploads/{name}")
    small = await c.post("/swallow", content=Chunks(SMALL + 100, 100))
    assert_refused(small, f"over {SMALL} bytes", "for POST /swallow")


def test_the_table_is_found_and_checked() -> None:
    api, _ = make_app()
    limits = limits_of(api)
    assert limits.limit("PUT", "/uploads/a") == (BIG, "PUT /uploads/{name}")
    assert limits.limit("DELETE", "/uploads/a") == (SMALL, "DELETE /uploads/a")
    assert limits.limit("POST", "/uploads/a/b") == (SMALL, "POST /uploads/a/b")
    with pytest.raises(ValueError, match="positive"):
        limits.allow("POST", "/x", 0)
    assert limits_of(api) is limits
