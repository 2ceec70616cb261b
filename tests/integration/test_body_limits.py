"""Body limits on the real stack, as an attacker meets them: a chunked body (no Content-Length)
far over the limit, streamed at the sign-in form, the editors' API, the admin API and the WebSub
hub, is refused with 413 and a reason as soon as it passes the route's limit, and the server
stops reading it (so it is neither spooled to the temporary folder nor held in memory)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import System

pytestmark = pytest.mark.integration

TOTAL = 64 * 1024 * 1024  # what the client would send
CHUNK = 64 * 1024
#: What the client can push into socket buffers before a server that stopped reading answers:
#: far less than half of TOTAL. A server that reads (spools, buffers) it all answers after TOTAL.
READ_AT_MOST = TOTAL // 2
BOUNDARY = "body-limit-test"
FILE_PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"; filename="key.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
).encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client had sent when the answer came

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def stream(
    system: System, service: str, method: str, path: str, headers: dict[str, str], head: bytes
) -> Answer:
    """Send a chunked body of up to TOTAL bytes the way an attacker would, reading the socket
    all along; stop sending as soon as the server answers (an event, not a timer)."""
    host, port = "127.0.0.1", system.ports[service]
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked"]
    writer.write(
        ("\r\n".join([*lines, *(f"{k}: {v}" for k, v in headers.items())]) + "\r\n\r\n").encode()
    )
    answer = asyncio.create_task(read_answer(reader))
    sent, filler = 0, b"x" * CHUNK
    try:
        while not answer.done() and sent < TOTAL:
            data = head if sent == 0 and head else filler
            writer.write(b"%x\r\n%b\r\n" % (len(data), data))
            sent += len(data)
            drained = asyncio.create_task(writer.drain())
            await asyncio.wait({drained, answer}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                drained.cancel()
        if not answer.done():
            writer.write(b"0\r\n\r\n")
        status, got, body = await asyncio.wait_for(answer, 120)
        return Answer(status, got, body, sent)
    finally:
        writer.close()


def assert_cut(answer: Answer, *words: str) -> None:
    assert answer.status == 413, answer.body[:300]
    refusal = answer.json()
    assert refusal["error"] == "payload too large"
    for word in words:
        assert word in refusal["reason"], refusal["reason"]
    assert answer.sent < READ_AT_MOST, f"the server read {answer.sent} of {TOTAL} bytes first"


@pytest.mark.parametrize("path", ["/desk/login", "/desk/logout"])
async def test_an_endless_form_before_sign_in_is_cut(system: System, path: str) -> None:
    """Before: the whole form was spooled to the temporary folder, then refused (401, 303)."""
    ctype = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    answer = await stream(system, "ingest", "POST", path, ctype, FILE_PART)
    assert_cut(answer, f"the limit is 65536 bytes for POST {path}")


async def test_an_endless_article_is_cut(system: System) -> None:
    headers = {**system.auth("mashhad"), "content-type": "text/plain"}
    answer = await stream(system, "ingest", "POST", "/articles", headers, b"")
    assert_cut(answer, f"the limit is {2 * 1024 * 1024} bytes for POST /articles")


async def test_an_endless_admin_request_is_cut(system: System) -> None:
    """Before: read whole into memory, then refused."""
    headers = {"Authorization": f"Bearer {system.admin_token}", "content-type": "application/json"}
    answer = await stream(system, "feeds", "PUT", "/admin/partners/bonn", headers, b'{"name": "')
    assert_cut(answer, "the limit is 100000 bytes for PUT /admin/")


async def test_an_endless_websub_request_is_cut(system: System) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    answer = await stream(
        system, "feeds", "POST", "/websub", headers, b"hub.mode=subscribe&hub.topic="
    )
    assert answer.status == 413 and answer.body  # with the hub's reason
    assert answer.sent < READ_AT_MOST, f"the server read {answer.sent} of {TOTAL} bytes first"
