"""Remote keys and actors (services/feeds/activitypub/keys.py): what we accept as a stranger's
key, how often we fetch it, and what a hostile server's answers cost us."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.feeds.activitypub.keys import Busy, FetchError, Remote, key_in
from shared import netguard

ACTOR = "http://127.0.0.1:9/users/alice"
KEY = f"{ACTOR}#main-key"
JSON = {"content-type": "application/activity+json"}


def actor_doc(**extra: Any) -> dict[str, Any]:
    return {
        "id": ACTOR,
        "type": "Person",
        "inbox": f"{ACTOR}/inbox",
        "endpoints": {"sharedInbox": "http://127.0.0.1:9/inbox"},
        "publicKey": {"id": KEY, "owner": ACTOR, "publicKeyPem": "PEM"},
        **extra,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def remote(handler: Callable[[httpx.Request], Any], **options: Any) -> Remote:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    allowed = netguard.Policy(netguard.parse_networks("127.0.0.1/32"))
    return Remote(client, allowed, resolver=None, **options)


def test_a_key_is_found_in_its_actor_or_as_a_document_of_its_own() -> None:
    assert key_in(actor_doc(), KEY) is not None
    listed = actor_doc(publicKey=[{"id": "x", "owner": ACTOR, "publicKeyPem": "A"},
                                  {"id": KEY, "owner": ACTOR, "publicKeyPem": "B"}])  # fmt: skip
    found = key_in(listed, KEY)
    assert found is not None and found.pem == "B" and found.owner == ACTOR
    alone = {"id": KEY, "owner": ACTOR, "publicKeyPem": "C"}  # as GoToSocial serves it
    assert key_in(alone, KEY) is not None


def test_a_key_owned_by_someone_else_is_no_key() -> None:
    stolen = actor_doc(publicKey={"id": KEY, "owner": "https://elsewhere/u/x", "publicKeyPem": "P"})
    assert key_in(stolen, KEY) is None
    abroad = {"id": KEY, "owner": "https://elsewhere.example/users/bob", "publicKeyPem": "P"}
    assert key_in(abroad, KEY) is None  # a key document may only name an owner on its host
    assert key_in(actor_doc(), f"{ACTOR}#other-key") is None


async def test_keys_are_cached_and_refetched_at_most_once_a_minute() -> None:
    fetched: list[str] = []
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        assert request.headers["accept"].startswith("application/activity+json")
        return httpx.Response(200, json=actor_doc(), headers=JSON)

    keys = remote(handler, clock=clock)
    await keys.key(KEY)
    await keys.key(KEY)
    assert fetched == [ACTOR]  # the fragment is not sent; the second came from the cache
    await keys.key(KEY, fresh=True)  # a failed signature, seconds later: no refetch
    assert len(fetched) == 1
    clock.now += 61
    await keys.key(KEY, fresh=True)
    assert len(fetched) == 2
    clock.now += 3601
    await keys.key(KEY)  # an hour on: fetched again
    assert len(fetched) == 3


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(302, headers={"location": "http://10.0.0.1/"}), "answered 302"),
        (httpx.Response(200, text="<html>", headers={"content-type": "text/html"}), "not an Act"),
        (httpx.Response(200, content=b"x" * 300_000, headers=JSON), "larger than 256 KiB"),
        (httpx.Response(200, content=b"[1, 2]", headers=JSON), "not a JSON object"),
        (httpx.Response(200, content=b"{", headers=JSON), "is not JSON"),
    ],
)
async def test_what_a_server_answers_instead_of_a_key_is_refused(
    answer: httpx.Response, reason: str
) -> None:
    keys = remote(lambda request: answer)
    with pytest.raises(FetchError, match=reason):
        await keys.key(KEY)


async def test_our_own_network_is_never_asked() -> None:
    asked: list[httpx.Request] = []
    keys = remote(lambda request: asked.append(request) or httpx.Response(200))
    for url in ("http://10.0.0.1/key#k", "http://169.254.169.254/latest#k", "file:///etc/x#k"):
        with pytest.raises(FetchError):
            await keys.key(url)
    assert asked == []


async def test_a_follower_whose_inbox_is_private_is_refused() -> None:
    doc = actor_doc(inbox="http://192.168.1.1/inbox")
    keys = remote(lambda request: httpx.Response(200, json=doc, headers=JSON))
    with pytest.raises(FetchError, match=r"192\.168\.1\.1"):
        await keys.actor(ACTOR)


async def test_a_flood_of_fetches_is_told_to_come_back() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200, json=actor_doc(), headers=JSON)

    keys = remote(slow, concurrency=1)
    first = asyncio.create_task(keys.key(KEY))
    await entered.wait()  # it holds the one slot
    with pytest.raises(Busy):
        await keys.key("http://127.0.0.1:9/users/bob#main-key")
    release.set()
    assert (await first).owner == ACTOR


async def test_a_follow_reads_its_actor_from_the_document_its_key_came_in() -> None:
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=actor_doc(), headers=JSON)

    clock = Clock()
    keys = remote(handler, clock=clock)
    await keys.key(KEY)
    found = await keys.actor(ACTOR)
    assert fetched == [ACTOR] and found.inbox == f"{ACTOR}/inbox"
    assert found.shared_inbox == "http://127.0.0.1:9/inbox"
    await keys.actor(ACTOR)  # used once: the next look-up fetches
    assert fetched == [ACTOR, ACTOR]
    await keys.key(KEY, fresh=True)  # cached, younger than a minute: no fetch, nothing kept
    clock.now += 61
    await keys.key(KEY, fresh=True)
    clock.now += 61  # the document is a minute old: fetched again
    await keys.actor(ACTOR)
    assert fetched == [ACTOR] * 4
