"""The remote fediverse instance the ActivityPub end-to-end tests use, tested against itself: two
instances on 127.0.0.1 find each other with WebFinger and post signed activities, and bovine's
verifier tells genuine signatures from unsigned, forged, stale and misattributed ones."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from email.utils import formatdate

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.fediverse import (
    AS_CONTEXT,
    FediverseError,
    RemoteInstance,
    SigningKey,
)

Pair = tuple[RemoteInstance, RemoteInstance]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with RemoteInstance() as a, RemoteInstance() as b:
        yield a, b


def create(actor: str, text: str = "سلام") -> dict[str, object]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}/activities/{time.monotonic_ns()}",
        "type": "Create",
        "actor": actor,
        "object": {"type": "Note", "content": text, "attributedTo": actor},
    }


async def test_lookup_finds_the_actor_with_webfinger(pair: Pair) -> None:
    a, b = pair
    assert b.handle == f"reader@127.0.0.1:{b.base_url.rsplit(':', 1)[1]}"
    assert await a.lookup(b.handle) == b.actor_id
    assert await a.lookup(f"@{b.handle}") == b.actor_id
    with pytest.raises(FediverseError) as missing:
        await a.lookup(f"nobody@{b.authority}")
    assert missing.value.status == 404


async def test_actor_document_publishes_key_and_inboxes(pair: Pair) -> None:
    a, b = pair
    actor = await a.fetch(b.actor_id)
    assert actor["id"] == b.actor_id
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "reader"
    assert actor["inbox"] == b.inbox
    assert actor["endpoints"] == {"sharedInbox": b.shared_inbox}
    key = actor["publicKey"]
    assert (key["id"], key["owner"]) == (b.key_id, b.actor_id)
    assert key["publicKeyPem"] == b.key.public_pem
    assert key["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize("which", ["inbox", "shared_inbox"])
async def test_signed_create_arrives_verified(pair: Pair, which: str) -> None:
    a, b = pair
    activity = create(a.actor_id)
    status, _ = await a.post(getattr(b, which), activity)
    assert status == 202
    got = await b.next_activity("Create", timeout=5)
    assert got.verified_owner == a.actor_id
    assert got.activity == activity
    assert got.path == getattr(b, which).removeprefix(b.base_url)
    assert f'keyId="{a.key_id}"' in got.headers["signature"]
    assert 'headers="(request-target) host date digest content-type"' in got.headers["signature"]


async def test_unsigned_post_arrives_unverified(pair: Pair) -> None:
    a, b = pair
    status, _ = await a.post(b.inbox, create(a.actor_id), sign=False)
    assert status == 202
    [got] = b.received
    assert "signature" not in got.headers
    assert got.verified_owner is None
    assert got.activity is not None and got.activity["type"] == "Create"


@pytest.mark.parametrize("key_suffix", ["#main-key", "#other-key"])
async def test_key_the_actor_does_not_publish_is_refused(pair: Pair, key_suffix: str) -> None:
    """Same keyId with other key material, and a keyId the actor does not list."""
    a, b = pair
    forged = SigningKey.generate(a.actor_id + key_suffix)
    assert await a.post(b.inbox, create(a.actor_id), key=forged) == (202, "")
    [got] = b.received
    assert got.verified_owner is None
    assert got.note.startswith("bovine refused")
    if key_suffix == "#other-key":
        assert "not among" in got.note


async def test_signer_other_than_the_actor_is_refused(pair: Pair) -> None:
    a, b = pair
    await a.post(b.inbox, create(b.actor_id))  # A's valid signature, B named as the actor
    [got] = b.received
    assert got.verified_owner is None
    assert got.note == f"signed by {a.actor_id} but the actor is {b.actor_id}"


async def test_stale_date_and_wrong_digest_are_refused(pair: Pair) -> None:
    a, b = pair
    old = formatdate(time.time() - 600, usegmt=True)
    await a.post(b.inbox, create(a.actor_id), headers={"date": old})  # signed as sent
    await a.post(b.inbox, create(a.actor_id), headers={"digest": "sha-256=AAAA"})
    await a.post(b.inbox, create(a.actor_id), signed_headers=("host", "date", "digest"))
    assert [r.verified_owner for r in b.received] == [None, None, None]
    assert b.received[0].headers["date"] == old


async def test_replay_resends_the_same_bytes(pair: Pair) -> None:
    a, b = pair
    await a.post(b.inbox, create(a.actor_id))
    assert await a.replay() == (202, "")
    first, second = b.received
    assert second.body == first.body
    for name in ("signature", "date", "digest", "host", "content-type"):
        assert second.headers[name] == first.headers[name]
    assert first.verified_owner == second.verified_owner == a.actor_id  # replays are the SUT's job


async def test_signature_not_made_by_bovine_is_accepted(pair: Pair) -> None:
    """The lead's format, signed by hand: rsa-sha256 over (request-target) host date digest."""
    a, b = pair
    private = serialization.load_pem_private_key(a.key.private_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    body = json.dumps(create(a.actor_id)).encode()
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    date = formatdate(usegmt=True)
    path = b.inbox.removeprefix(b.base_url)
    signed = f"(request-target): post {path}\nhost: {b.authority}\ndate: {date}\ndigest: {digest}"
    raw = private.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    header = (
        f'keyId="{a.key_id}",algorithm="rsa-sha256",'
        f'headers="(request-target) host date digest",signature="{base64.b64encode(raw).decode()}"'
    )
    headers = {"Date": date, "Digest": digest, "Signature": header}
    assert await a.post(b.inbox, body, sign=False, headers=headers) == (202, "")
    got = await b.next_activity("Create", timeout=5)
    assert got.verified_owner == a.actor_id


async def test_follow_and_undo_are_delivered_signed_by_bovine(pair: Pair) -> None:
    a, b = pair
    follow_id = await a.follow(b.actor_id)
    follow = await b.next_activity("Follow", timeout=5)
    assert follow.verified_owner == a.actor_id
    assert follow.activity is not None
    assert (follow.activity["id"], follow.activity["object"]) == (follow_id, b.actor_id)
    assert follow.headers["user-agent"].startswith("bovine/")
    assert await b.fetch(follow_id) == follow.activity  # our activity ids dereference
    await a.undo_follow(b.actor_id, follow_id)
    undo = await b.next_activity("Undo", timeout=5, where=lambda x: x["object"]["id"] == follow_id)
    assert undo.verified_owner == a.actor_id


async def test_next_activity_takes_each_match_once_and_honours_where(pair: Pair) -> None:
    a, b = pair
    first, second = create(a.actor_id, "one"), create(a.actor_id, "two")
    await a.post(b.inbox, first)
    await a.post(b.inbox, second)
    picked = await b.next_activity("Create", timeout=5, where=lambda x: x["id"] == second["id"])
    assert picked.activity == second
    assert (await b.next_activity("Create", timeout=5)).activity == first
    with pytest.raises(TimeoutError):
        await b.next_activity("Create", timeout=0.2)


async def test_next_activity_times_out_listing_what_came_instead(pair: Pair) -> None:
    a, b = pair
    await a.post(b.inbox, create(a.actor_id), sign=False)
    with pytest.raises(TimeoutError) as waited:
        await b.next_activity("Accept", timeout=0.3)
    message = str(waited.value)
    assert "no verified Accept within 0.3s" in message
    assert f"/users/reader/inbox Create actor={a.actor_id} [unsigned]" in message


async def test_refuse_unsigned_answers_401() -> None:
    async with RemoteInstance() as a, RemoteInstance(refuse_unsigned=True) as b:
        status, text = await a.post(b.inbox, create(a.actor_id), sign=False)
        assert (status, text) == (401, "unsigned")
        assert await a.post(b.inbox, create(a.actor_id)) == (202, "")
        assert [r.verified_owner for r in b.received] == [None, a.actor_id]
