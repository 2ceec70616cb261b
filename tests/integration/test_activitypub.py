"""A fediverse server follows a city's English feed (issue 25), on the real stack.

The follower is :class:`tests.support.fediverse.RemoteInstance`: an account on 127.0.0.1 whose
requests bovine signs and whose inbox bovine verifies (a library the project does not own).
It finds the actor by WebFinger as Mastodon does, follows it, and receives, each verified by
bovine against the key our actor document publishes: the ``Accept``, a ``Create`` with the
English translation, an ``Update`` after a correction and a ``Delete`` after a withdrawal.
The inbox's refusals are checked with requests bovine signed too: unsigned, another key, an old
date, a replay, a body too large, and floods of follows.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from deploy.local import stack
from tests.integration.conftest import System, await_feed, ready
from tests.support.fediverse import Received, RemoteInstance, SigningKey

pytestmark = pytest.mark.integration

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
async def remote() -> AsyncIterator[RemoteInstance]:
    async with RemoteInstance() as instance:
        yield instance


def article(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "publisher": "mashhad",
        "headline": f"دیدار شهردار مشهد با هیئت قازان {tag}",
        "body_text": "شهردار مشهد با هیئت قازان دیدار کرد.\n\nدو شهر بر همکاری فرهنگی تأکید کردند.",
        "external_id": f"ap-{tag}",
        "published": "2026-12-01T09:00:00+03:30",
        "subjects": ["city diplomacy"],
        **overrides,
    }


def about(article_id: str) -> Any:
    """Whether an activity's object is (the tombstone of) our actor's copy of ``article_id``."""
    return lambda activity: str(activity["object"]["id"]).endswith(f"/articles/{article_id}")


def verified_by(received: Received, actor: str) -> None:
    assert received.verified_owner == actor, received.describe()


async def test_a_fediverse_follower_gets_create_update_and_delete_signed(
    system: System, http: httpx.AsyncClient, remote: RemoteInstance
) -> None:
    host = f"127.0.0.1:{system.ports['feeds']}"
    actor_id = await remote.lookup(f"@mashhad.en@{host}")  # WebFinger, as Mastodon does
    assert actor_id == system.url("feeds", "/ap/feeds/mashhad/en")
    actor = await remote.fetch(actor_id)
    assert actor["type"] == "Service" and actor["preferredUsername"] == "mashhad.en"
    assert "English" in actor["summary"] and actor["publicKey"]["owner"] == actor_id

    follow_id = await remote.follow(actor_id)
    accepted = await remote.next_activity("Accept", where=lambda a: a["object"]["id"] == follow_id)
    verified_by(accepted, actor_id)
    followers = (await http.get(f"{actor_id}/followers")).json()
    assert followers["totalItems"] >= 1

    url, auth = system.url("ingest", "/articles"), system.auth("mashhad")
    submitted = article()
    answer = await http.post(url, json=submitted, headers=auth)
    assert answer.status_code == 202, answer.text
    article_id = answer.json()["article_id"]

    created = await remote.next_activity("Create", where=about(article_id), timeout=90)
    verified_by(created, actor_id)
    obj = created.activity["object"] if created.activity else {}
    assert obj["type"] == "Article" and obj["attributedTo"] == actor_id
    assert set(obj["contentMap"]) == {"en"} and "inReplyTo" not in obj
    assert AS_PUBLIC in obj["to"]
    links = {link["href"] for link in obj["url"]}
    assert system.url("feeds", f"/entries/{article_id}/en") in links
    english = (await http.get(system.url("feeds", f"/entries/{article_id}/en.json"))).json()
    assert obj["name"] == english["headline"]  # the translation, as the feeds carry it

    corrected = {**submitted, "body_text": submitted["body_text"] + "\n\nاصلاحیه: تاریخ دیدار."}
    assert (await http.post(url, json=corrected, headers=auth)).status_code == 202
    updated = await remote.next_activity("Update", where=about(article_id), timeout=90)
    verified_by(updated, actor_id)
    assert updated.activity and updated.activity["object"]["contentMap"]["en"] != obj["content"]

    gone = await http.delete(f"{url}/{article_id}", headers=auth)
    assert gone.status_code == 202, gone.text
    deleted = await remote.next_activity("Delete", where=about(article_id), timeout=90)
    verified_by(deleted, actor_id)
    assert deleted.activity and deleted.activity["object"]["type"] == "Tombstone"
    tomb = await http.get(f"{actor_id}/articles/{article_id}")
    assert tomb.status_code == 410

    creates = [r for r in remote.received if r.type == "Create" and about(article_id)(r.activity)]
    assert len(creates) == 1  # at most once per follower and version

    await remote.undo_follow(actor_id, follow_id)
    later = await http.post(url, json=article(), headers=auth)
    await remote_gets_nothing_more(remote, system, http, later.json()["article_id"])


async def remote_gets_nothing_more(
    remote: RemoteInstance, system: System, http: httpx.AsyncClient, article_id: str
) -> None:
    """After Undo Follow: the article reaches the English feed, and no Create reaches us."""
    await await_feed(
        http,
        system.url("feeds", "/feeds/mashhad/en.atom"),
        lambda f: any(article_id in e.get("link", "") for e in f.entries),
        timeout=90,
    )
    with pytest.raises(TimeoutError):
        await remote.next_activity("Create", where=about(article_id), timeout=3)


async def test_webfinger_outbox_and_unknown_accounts(
    system: System, http: httpx.AsyncClient
) -> None:
    host = f"127.0.0.1:{system.ports['feeds']}"
    finger = system.url("feeds", "/.well-known/webfinger")
    found = await http.get(finger, params={"resource": f"acct:metropolis.network.ru@{host}"})
    assert found.status_code == 200
    assert found.headers["content-type"].startswith("application/jrd+json")
    actor = found.json()["links"][0]["href"]
    assert actor == system.url("feeds", "/ap/networks/metropolis/ru")
    for missing in (f"acct:mashhad.de@{host}", f"acct:kazan.en@{host}", "acct:mashhad.en@else"):
        answer = await http.get(finger, params={"resource": missing})
        assert answer.status_code == 404, missing
        assert "no account" in answer.json()["reason"]
    private = await http.get(system.url("feeds", "/ap/partners/kazan/en"))
    assert private.status_code == 404  # a partner's feed is private: never an actor

    outbox = (await http.get(system.url("feeds", "/ap/feeds/mashhad/fa/outbox"))).json()
    assert outbox["type"] == "OrderedCollection"
    if outbox["totalItems"]:
        page = (await http.get(outbox["first"])).json()
        assert page["type"] == "OrderedCollectionPage"
        assert all(item["type"] == "Create" for item in page["orderedItems"])


# ---------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def strict_feeds(system: System) -> Iterator[str]:
    """A second feeds replica with small limits: 3 followers per server, 20 inbox requests a
    day per server, two retries half a second apart; its base URL (its own public URL, so
    signatures name it)."""
    port = stack.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **system.env,
        "FEEDS_HTTP_PORT": str(port),
        "FEEDS_PUBLIC_URL": base,
        "FEEDS_ACTIVITYPUB_FOLLOWERS_PER_HOST": "3",
        "FEEDS_ACTIVITYPUB_RETRY_DELAYS": "0.5,0.5",
        "FEEDS_ACTIVITYPUB_RETRY_SECONDS": "0.2",
        "FEEDS_ACTIVITYPUB_RATE_LIMIT": "20/day",  # no window ends mid-test,
    }
    replica = stack.service_process("feeds", system.state, env)
    replica.name = f"feeds-strict-{uuid.uuid4().hex[:6]}"
    replica.start()
    try:
        stack.wait_until(lambda: ready(f"{base}/readyz"), "strict feeds", 60, replica)
        yield base
    finally:
        replica.stop(timeout=30)


def follow_of(remote: RemoteInstance, actor: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{remote.actor_id}/follows/{uuid.uuid4().hex}",
        "type": "Follow",
        "actor": remote.actor_id,
        "object": actor,
    }


async def test_the_inbox_refuses_what_is_not_signed_by_the_actor(
    system: System, remote: RemoteInstance
) -> None:
    actor = system.url("feeds", "/ap/feeds/tehran/en")
    inbox = f"{actor}/inbox"
    status, body = await remote.post(inbox, follow_of(remote, actor), sign=False)
    assert status == 401 and "unsigned" in body

    stranger = SigningKey.generate(remote.key_id)  # claims the account's key id, other key
    status, body = await remote.post(inbox, follow_of(remote, actor), key=stranger)
    assert status == 401 and "does not verify" in body

    old = "Mon, 07 Dec 2026 00:00:00 GMT"
    status, body = await remote.post(inbox, follow_of(remote, actor), headers={"Date": old})
    assert status == 401 and "window" in body

    status, body = await remote.post(inbox, {**follow_of(remote, actor), "actor": actor})
    assert status == 401 and "not of the activity's actor" in body

    status, body = await remote.post(inbox, follow_of(remote, actor))
    assert status == 202, body
    status, body = await remote.replay()  # the same signed request again
    assert status == 401 and "replay" in body

    too_big = {**follow_of(remote, actor), "padding": "x" * 100_000}
    status, body = await remote.post(inbox, too_big)
    assert status == 413


async def test_follow_floods_are_refused_per_server(
    strict_feeds: str, remote: RemoteInstance
) -> None:
    feeds = ("mashhad/en", "mashhad/ar", "mashhad/ru", "tehran/en")
    answers = []
    for path in feeds:
        actor = f"{strict_feeds}/ap/feeds/{path}"
        answers.append(await remote.post(f"{actor}/inbox", follow_of(remote, actor)))
    assert [status for status, _ in answers] == [202, 202, 202, 429]
    assert "too many followers" in answers[-1][1]

    actor = f"{strict_feeds}/ap/feeds/gorgan/en"
    statuses = [
        (await remote.post(f"{actor}/inbox", {"type": "Like", "actor": remote.actor_id}))[0]
        for _ in range(25)
    ]
    assert statuses.count(429) >= 1 and 429 not in statuses[:16]


async def test_a_failed_delivery_is_retried_and_delivered_once(
    strict_feeds: str, remote: RemoteInstance
) -> None:
    remote.failing = 2  # the follower's server is down for the Accept's first two tries
    actor = f"{strict_feeds}/ap/feeds/gorgan/ar"
    follow_id = await remote.follow(actor)
    accepted = await remote.next_activity("Accept", where=lambda a: a["object"]["id"] == follow_id)
    verified_by(accepted, actor)
    tries = [r for r in remote.received if r.type == "Accept"]
    assert [r.note for r in tries] == ["503", "503", "verified"]


async def test_followers_servers_on_our_network_are_refused(
    system: System, remote: RemoteInstance
) -> None:
    """FEEDS_ACTIVITYPUB_ALLOW_NETWORKS is 127.0.0.1/32 here: 127.0.0.2 is as private as any
    other address, and nothing may be sent there, neither an Accept nor a key request."""
    listener = await asyncio.start_server(count_connection, "127.0.0.2", 0)
    port = listener.sockets[0].getsockname()[1]
    connections.clear()
    actor = system.url("feeds", "/ap/feeds/gorgan/ru")
    try:
        remote.inbox = f"http://127.0.0.2:{port}/inbox"  # its actor document now says so
        remote.shared_inbox = ""
        status, body = await remote.post(f"{actor}/inbox", follow_of(remote, actor))
        assert status == 400 and "127.0.0.2" in body, body

        elsewhere = SigningKey.generate(f"http://127.0.0.2:{port}/key")
        status, body = await remote.post(f"{actor}/inbox", follow_of(remote, actor), key=elsewhere)
        assert status == 401 and "could not be fetched" in body, body
    finally:
        listener.close()
        await listener.wait_closed()
    assert connections == []


connections: list[object] = []


async def count_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connections.append(writer.get_extra_info("peername"))
    writer.close()


@dataclass
class Message:
    """What http-message-signatures signs: a request's method, URL and headers."""

    method: str
    url: str
    headers: dict[str, str]


async def test_an_rfc9421_signed_follow_is_accepted(system: System, remote: RemoteInstance) -> None:
    """RFC 9421 (as Mastodon 4.5 sends it when the server says it accepts it), signed by the
    http-message-signatures library with the follower's key, Content-Digest included."""
    actor = system.url("feeds", "/ap/feeds/tehran/ar")
    inbox = f"{actor}/inbox"
    activity = follow_of(remote, actor)
    body = json.dumps(activity).encode()
    private = serialization.load_pem_private_key(remote.key.private_pem.encode(), password=None)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={remote.key_id: private}),  # type: ignore[dict-item]
    )
    message = Message("POST", inbox, {"Content-Type": "application/activity+json"})
    signer.sign(
        message,
        key_id=remote.key_id,
        created=datetime.now(UTC),
        label="sig1",
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        body=body,
    )
    signed = {name.lower(): value for name, value in message.headers.items()}
    status, answer = await remote.post(inbox, body, headers={**signed, "digest": None})
    assert status == 202, answer
    accepted = await remote.next_activity(
        "Accept", where=lambda a: a["object"]["id"] == activity["id"]
    )
    verified_by(accepted, actor)


async def test_a_deleted_account_follows_no_more(
    system: System, http: httpx.AsyncClient, remote: RemoteInstance
) -> None:
    """An account deleted on its server: its inbox answers 410 to a delivery, or its server
    sends a Delete signed by a key that is gone with it. Either way its follows are removed."""
    actor = system.url("feeds", "/ap/feeds/gorgan/en")
    before = (await http.get(f"{actor}/followers")).json()["totalItems"]
    remote.failing, remote.failing_status = 1, 410
    await remote.follow(actor)
    await remote.until(lambda received: any(r.note == "410" for r in received))
    await until_followers(http, actor, before)

    await remote.follow(actor)
    await remote.next_activity("Accept", where=lambda a: a["actor"] == actor)
    assert (await http.get(f"{actor}/followers")).json()["totalItems"] == before + 1
    remote.gone = True
    deletion = {"type": "Delete", "actor": remote.actor_id, "object": remote.actor_id,
                "id": f"{remote.actor_id}#delete", "to": [AS_PUBLIC]}  # fmt: skip
    its_old_key = SigningKey.generate(remote.key_id)  # gone with the account: nothing verifies
    status, body = await remote.post(f"{actor}/inbox", deletion, key=its_old_key)
    assert status == 202 and "gone" in body, body
    await until_followers(http, actor, before)


async def until_followers(http: httpx.AsyncClient, actor: str, count: int) -> None:
    """Wait (reading the count, 100 ms apart, up to 30 s) until the actor has ``count``."""
    found = None
    for _ in range(300):
        found = (await http.get(f"{actor}/followers")).json()["totalItems"]
        if found == count:
            return
        await asyncio.sleep(0.1)  # the removal follows the answer we saw: poll its effect
    raise AssertionError(f"{actor} has {found} followers, not {count}")
