"""Keys: each actor's own signing key, and the public keys of the servers that write to us.

Our actors' RSA keys are made on first use and kept in ``ap_keys`` (one document per feed, the
private key in PEM): the database holding it must be protected like any store of credentials,
as it is for the WebSub hub's secrets. Two replicas making the same actor's key at once both
insert; the first insert wins and the other reads it back.

A remote key is fetched from its ``keyId`` URL (an actor document holding ``publicKey``, or
a key document of its own, as GoToSocial serves), through the same guarded client as every
other request to a stranger's URL (:mod:`shared.netguard`: never our own network), read up to
a limit, and cached for an hour. A signature that fails with a cached key is tried once more
with the key fetched anew (the remote account may have rotated it), at most once a minute a
key, so a forger cannot make us fetch on every request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urlsplit

import httpx
from pymongo.errors import DuplicateKeyError

from services.feeds.activitypub import signatures
from services.feeds.activitypub.actors import ACCEPTED
from services.feeds.websub import read_at_most
from shared import netguard
from shared.storage import Collection, Database

KEYS = Collection("ap_keys")
MAX_DOCUMENT_BYTES = 256 * 1024
RECENT_DOCUMENTS = 1000  # key documents kept for the actor look-up that follows
RECENT_SECONDS = 60.0
ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


class ActorKeys:
    """Each actor's key pair, made once and shared by every replica."""

    def __init__(self, db: Database) -> None:
        self.keys = db[KEYS.name]
        self._cache: dict[str, tuple[str, str]] = {}

    async def pair(self, feed_id: str) -> tuple[str, str]:
        """(private PEM, public PEM) of the actor of ``feed_id``."""
        if (found := self._cache.get(feed_id)) is not None:
            return found
        doc = await self.keys.find_one({"_id": feed_id})
        if doc is None:
            private, public = await asyncio.to_thread(signatures.generate_key)
            try:
                await self.keys.insert_one({"_id": feed_id, "private": private, "public": public})
            except DuplicateKeyError:
                pass  # another replica made it first: theirs is the key
            doc = await self.keys.find_one({"_id": feed_id})
            assert doc is not None
        pair = (str(doc["private"]), str(doc["public"]))
        self._cache[feed_id] = pair
        return pair


INSTANCE = "instance"  # the instance actor's key in ap_keys


def instance_signer(keys: ActorKeys, key_id: str, clock: Callable[[], Any]) -> SignGet:
    """Sign GETs with the instance actor's key (``key_id`` is where it is published)."""

    async def sign_get(url: str) -> dict[str, str]:
        private, _ = await keys.pair(INSTANCE)
        return signatures.sign(
            "GET", url, None, key_id=key_id, private_key_pem=private, now=clock()
        )

    return sign_get


@dataclass(frozen=True)
class RemoteActor:
    """What we need of a remote actor: where to deliver, and its key."""

    id: str
    inbox: str
    shared_inbox: str | None
    key_id: str | None
    key_pem: str | None


@dataclass(frozen=True)
class RemoteKey:
    key_id: str
    owner: str
    pem: str


class FetchError(Exception):
    """A remote document could not be had; the reason names the URL and why."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status  # the remote's HTTP status, when it answered


class Busy(FetchError):
    """Too many fetches are under way in this replica: the sender should come back shortly."""


#: Headers that sign a GET of ``url`` (the instance actor's signature), for servers that answer
#: only signed fetches (GoToSocial; Mastodon in its authorized-fetch mode).
SignGet = Callable[[str], Awaitable[dict[str, str]]]


class Remote:
    """Fetches remote actors and keys through the guarded client, with a small cache."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: netguard.Policy,
        resolver: netguard.Resolver | None = netguard.resolve,
        *,
        sign_get: SignGet | None = None,
        ttl: float = 3600.0,
        size: int = 10_000,
        concurrency: int = 64,
        clock: Any = time.monotonic,
    ) -> None:
        self.client = client
        self.sign_get = sign_get
        self.policy = policy
        self.resolver = resolver
        self.ttl, self.size, self.clock = ttl, size, clock
        self._keys: OrderedDict[str, tuple[float, RemoteKey]] = OrderedDict()
        # The documents keys came in, by URL, for :meth:`actor` to read without a second fetch.
        self._documents: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        # A flood of follows from many made-up servers costs us at most this many fetches at
        # once; the rest are told to come back (503) rather than queued without end.
        self._fetching = asyncio.Semaphore(concurrency)

    async def key(self, key_id: str, *, fresh: bool = False) -> RemoteKey:
        """The key ``key_id`` names (cached unless ``fresh``, or when its copy is younger than a
        minute: then the cached one, refetching would only help a forger)."""
        now = self.clock()
        cached = self._keys.get(key_id)
        if cached is not None:
            age = now - cached[0]
            if age < 60 or (not fresh and age < self.ttl):
                return cached[1]
        url = urldefrag(key_id).url
        doc = await self.document(url)
        found = key_in(doc, key_id)
        if found is None:
            raise FetchError(f"{key_id} names no public key in the document it leads to")
        _remember(self._keys, key_id, (now, found), self.size)
        _remember(self._documents, url, (now, doc), RECENT_DOCUMENTS)
        return found

    async def actor(self, actor_id: str) -> RemoteActor:
        """The actor behind a Follow; its document as its key was just fetched in (a key id
        is nearly always ``<actor>#main-key``), else fetched now."""
        recent = self._documents.pop(actor_id, None)
        fresh = recent is not None and self.clock() - recent[0] < RECENT_SECONDS
        doc = recent[1] if recent is not None and fresh else await self.document(actor_id)
        if doc.get("id") != actor_id:
            raise FetchError(f"{actor_id} answered with a document of another id")
        inbox = doc.get("inbox")
        if not isinstance(inbox, str) or not inbox:
            raise FetchError(f"{actor_id} has no inbox")
        endpoints = doc.get("endpoints")
        shared = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
        shared = shared if isinstance(shared, str) and shared else None
        for url in (inbox, shared):  # refused now, not first at the delivery's connect
            if url and (why := await netguard.screen_url(url, self.policy, self.resolver)):
                raise FetchError(f"{actor_id}'s inbox {url[:200]} {why}")
        key = _public_keys(doc)
        first = key[0] if key else None
        return RemoteActor(
            actor_id,
            inbox,
            shared,
            first.key_id if first else None,
            first.pem if first else None,
        )

    async def gone(self, actor_id: str) -> bool:
        """Whether the actor's server says it is gone for good (410)."""
        try:
            await self.document(actor_id)
        except FetchError as exc:
            return exc.status == 410
        return False

    async def document(self, url: str) -> dict[str, Any]:
        """A JSON document from a stranger's URL, or FetchError saying why not."""
        if self._fetching.locked():
            raise Busy("too many remote documents are being fetched; retry in a few seconds")
        async with self._fetching:
            return await self._document(url)

    async def _document(self, url: str) -> dict[str, Any]:
        why = await netguard.screen_url(url, self.policy, self.resolver)
        if why is not None:
            raise FetchError(f"{url[:200]} {why}")
        headers = {"Accept": ACCEPT, **(await self.sign_get(url) if self.sign_get else {})}
        try:
            async with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    status = response.status_code
                    raise FetchError(f"{url[:200]} answered {status}", status)
                media = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if media not in (*ACCEPTED, "application/json"):
                    raise FetchError(f"{url[:200]} is not an ActivityStreams document ({media})")
                body = await read_at_most(response, MAX_DOCUMENT_BYTES + 1)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchError(f"{url[:200]} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
        except httpx.HTTPError as exc:
            reason = "is not ours to reach" if netguard.blocked(exc) else type(exc).__name__
            raise FetchError(f"{url[:200]}: {reason}") from None
        try:
            doc = json.loads(body)
        except ValueError:
            raise FetchError(f"{url[:200]} is not JSON") from None
        if not isinstance(doc, dict):
            raise FetchError(f"{url[:200]} is not a JSON object")
        return doc


def _remember(cache: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def key_in(doc: dict[str, Any], key_id: str) -> RemoteKey | None:
    """The key ``key_id`` in an actor document (``publicKey``, one or a list), or the document
    itself when it is the key; its owner must be on the key's own host."""
    for key in _public_keys(doc):
        if key.key_id == key_id:
            return key
    if doc.get("id") == key_id and isinstance(doc.get("publicKeyPem"), str):
        owner = doc.get("owner") or doc.get("controller")
        if isinstance(owner, str) and _same_host(owner, key_id):
            return RemoteKey(key_id, owner, doc["publicKeyPem"])
    return None


def _public_keys(doc: dict[str, Any]) -> list[RemoteKey]:
    found = doc.get("publicKey")
    keys = found if isinstance(found, list) else [found]
    out = []
    for key in keys:
        if not isinstance(key, dict):
            continue
        key_id, pem = key.get("id"), key.get("publicKeyPem")
        owner = key.get("owner") or doc.get("id")
        if isinstance(key_id, str) and isinstance(pem, str) and owner == doc.get("id"):
            out.append(RemoteKey(key_id, str(owner), pem))
    return out


def _same_host(a: str, b: str) -> bool:
    return urlsplit(a).netloc.lower() == urlsplit(b).netloc.lower()
