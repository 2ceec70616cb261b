"""The editor desk's sign-in on the real stack (issue 18, finding 11a): the cookie holds a
random session id, never the editor key; the database holds only the id's SHA-256; signing out
ends the session on the server, so a copy of the old cookie no longer works; revoking the key
ends every session it opened."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.integration.conftest import System, registry_cli

pytestmark = pytest.mark.integration


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def sign_in(http: httpx.AsyncClient, system: System, key: str) -> httpx.Cookies:
    """The cookies the desk sets on signing in with ``key`` (a jar of their own)."""
    signed = await http.post(system.url("ingest", "/desk/login"), data={"key": key})
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/desk/articles"
    return httpx.Cookies(signed.cookies)


async def desk_status(system: System, cookies: httpx.Cookies) -> int:
    """What a browser holding ``cookies`` gets at the article list: 200, or 303 to sign in."""
    async with httpx.AsyncClient(timeout=30, cookies=cookies) as client:
        return (await client.get(system.url("ingest", "/desk/articles"))).status_code


async def csrf_of(system: System, cookies: httpx.Cookies) -> str:
    async with httpx.AsyncClient(timeout=30, cookies=cookies) as client:
        page = await client.get(system.url("ingest", "/desk/compose"))
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


async def test_the_cookie_is_a_session_id_stored_only_as_its_hash(
    http: httpx.AsyncClient, system: System
) -> None:
    key = system.keys["tehran"]
    signed = await http.post(system.url("ingest", "/desk/login"), data={"key": key})
    assert signed.status_code == 303
    header = signed.headers["set-cookie"]
    assert key not in header
    for part in ("HttpOnly", "Path=/desk", "SameSite=strict"):
        assert part in header, header
    [(name, value)] = list(signed.cookies.items())
    assert name == "desk_session" and len(value) >= 32
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(system.infra.mongodb_uri)
    try:
        sessions = client[system.infra.database]["desk_sessions"]
        stored = await sessions.find_one({"_id": hashlib.sha256(value.encode()).hexdigest()})
        assert stored is not None, "no session stored under the id's SHA-256"
        text = repr(await sessions.find({}).to_list())
        assert value not in text and key not in text  # neither secret is in the database
    finally:
        await client.close()


async def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    http: httpx.AsyncClient, system: System
) -> None:
    cookies = await sign_in(http, system, system.keys["tehran"])
    copied = httpx.Cookies(cookies)  # what a thief copied before the editor signed out
    assert await desk_status(system, cookies) == 200
    async with httpx.AsyncClient(timeout=30, cookies=cookies) as client:
        out = await client.post(
            system.url("ingest", "/desk/logout"), data={"csrf": await csrf_of(system, cookies)}
        )
    assert out.status_code == 303 and out.headers["location"] == "/desk/login?done=signed-out"
    assert await desk_status(system, copied) == 303  # ended on the server, not only forgotten


async def test_revoking_the_key_ends_its_sessions(http: httpx.AsyncClient, system: System) -> None:
    keyfile = system.state / "keys" / f"tehran-session-{uuid.uuid4().hex[:8]}.key"
    said = await registry_cli(
        system, "keys", "create", "tehran", "--name", "session test", "--out", str(keyfile)
    )
    key_id = re.search(r"created (k_[0-9a-f]+)", said)
    assert key_id, said
    cookies = await sign_in(http, system, keyfile.read_text().strip())
    other = await sign_in(http, system, system.keys["tehran"])  # another editor's key
    assert await desk_status(system, cookies) == 200
    await registry_cli(system, "keys", "revoke", key_id[1])
    # The registry caches a key for 5 s: poll (one request at a time) until the session ends.
    for _ in range(2000):
        if await desk_status(system, cookies) == 303:
            break
    else:
        raise AssertionError("the revoked key's session still works")
    assert await desk_status(system, other) == 200  # other keys' sessions go on
