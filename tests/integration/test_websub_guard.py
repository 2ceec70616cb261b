"""The WebSub hub on the real stack cannot be pointed at our own network (issue 18, finding 1).

A feeds replica started WITHOUT ``FEEDS_WEBSUB_ALLOW_NETWORKS`` refuses every loopback spelling
of a callback at subscribe time, and a subscription that points at loopback anyway (its name
resolved to a public address when it was made: DNS rebinding) is never delivered to: the
connect-time guard refuses the address. A listener on loopback records every connection and
must see none. Only loopback addresses are ever named here, so a broken guard still sends
nothing off this machine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local import stack
from services.feeds import websub
from shared.contracts import utcnow
from tests.integration.conftest import System, ready

pytestmark = pytest.mark.integration


class Listener:
    """A TCP listener that counts connections and answers each with an empty 204."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self, host: str) -> int:
        self.server = await asyncio.start_server(self._serve, host, 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture(scope="module")
def unguarded(system: System) -> Iterator[str]:
    """A feeds replica with the default (safe) settings: no networks allowed; its base URL."""
    port = stack.free_port()
    env = {**system.env, "FEEDS_HTTP_PORT": str(port), "FEEDS_WEBSUB_ALLOW_NETWORKS": ""}
    replica = stack.service_process("feeds", system.state, env)
    replica.name = f"feeds-guarded-{uuid.uuid4().hex[:6]}"
    replica.start()
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until(lambda: ready(f"{base}/readyz"), "guarded feeds", 60, replica)
        yield base
    finally:
        replica.stop(timeout=30)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    found = Listener()
    port = await found.start("127.0.0.1")
    yield found, port
    await found.stop()


def loopback_callbacks(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/cb",
        f"http://2130706433:{port}/cb",
        f"http://0x7f000001:{port}/cb",
        f"http://0177.0.0.1:{port}/cb",
        f"http://127.1:{port}/cb",
        f"http://localhost:{port}/cb",
        f"http://LOCALHOST.:{port}/cb",
        f"http://[::1]:{port}/cb",
        f"http://[::ffff:127.0.0.1]:{port}/cb",
        f"http://[::ffff:7f00:1]:{port}/cb",
        f"https://127.0.0.1:{port}/cb",
    ]


async def test_loopback_callbacks_are_refused_and_never_contacted(
    system: System, http: httpx.AsyncClient, unguarded: str, listener: tuple[Listener, int]
) -> None:
    server, port = listener
    topic = system.url("feeds", "/feeds/tehran/en.atom")
    answers = {}
    for callback in loopback_callbacks(port):
        resp = await http.post(
            f"{unguarded}/websub",
            data={"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback},
        )
        answers[callback] = (resp.status_code, resp.text)
    refused = {cb: a for cb, a in answers.items() if a[0] == 400 and "hub.callback" in a[1]}
    assert refused == answers, answers
    # the refusal is made before any background work starts: nothing can arrive later
    assert server.connections == 0


async def test_a_subscription_that_rebinds_to_loopback_is_never_delivered_to(
    system: System, http: httpx.AsyncClient, unguarded: str
) -> None:
    """As if ``partner.example`` resolved to a public address when it subscribed and now
    resolves to 127.0.0.2: the stored callback points at loopback. A publish makes the hub try
    to deliver; the attempt is refused at connect time and scheduled for retry as blocked."""
    server = Listener()
    port = await server.start("127.0.0.2")  # outside the test suite's allow-list (127.0.0.1)
    topic = system.url("feeds", "/feeds/gorgan/ru.atom")
    callback = f"http://127.0.0.2:{port}/rebound"
    sid = websub.subscription_id(topic, callback)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(system.infra.mongodb_uri)
    db = client[system.infra.database]
    now = utcnow()
    await db[websub.SUBSCRIPTIONS.name].replace_one(
        {"_id": sid},
        {
            "_id": sid,
            "topic": topic,
            "callback": callback,
            "lease_seconds": 3600,
            "expires": now + timedelta(hours=1),
            "verified": now,
        },
        upsert=True,
    )
    try:
        resp = await http.post(
            f"{unguarded}/websub", data={"hub.mode": "publish", "hub.url": topic}
        )
        assert resp.status_code == 202, resp.text
        async with asyncio.timeout(30):  # until the hub has tried and recorded the failure
            while (retry := await db[websub.RETRIES.name].find_one({"_id": sid})) is None:  # noqa: ASYNC110 (a database poll)
                await asyncio.sleep(0.05)
        assert retry["last_error"] == "BlockedAddress"
        assert server.connections == 0
    finally:
        await db[websub.SUBSCRIPTIONS.name].delete_one({"_id": sid})
        await db[websub.RETRIES.name].delete_one({"_id": sid})
        await client.close()
        await server.stop()
