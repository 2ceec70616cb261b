"""An independent fediverse server for the ActivityPub tests: one account on 127.0.0.1 whose
signatures are made and checked by bovine, a library the project does not own, so that a test
passing here means someone else's code agrees with ours about HTTP signatures. It speaks only
HTTP to the server under test and imports nothing from services/."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urldefrag

import aiohttp
from aiohttp import web
from bovine.clients.signed_http import SignedHttpClient
from bovine.clients.utils import host_target_from_url
from bovine.crypto import generate_rsa_public_private_key
from bovine.crypto.helper import content_digest_sha256
from bovine.crypto.http_signature import HttpSignature
from bovine.crypto.signature_checker import SignatureChecker
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from bovine.types.jrd import JrdData
from bovine.utils import get_gmt_now, parse_fediverse_handle

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
ACTIVITY_JSON = "application/activity+json"
JRD_JSON = "application/jrd+json"
# What Mastodon (and bovine's own signed_post) sign on a POST.
POST_SIGNED_HEADERS = ("(request-target)", "host", "date", "digest", "content-type")
USERNAME = "reader"

Json = dict[str, Any]


class FediverseError(RuntimeError):
    """A remote answered outside 2xx (or with something that is not what the protocol wants)."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair (bovine made it) and the keyId a signature made with it claims."""

    key_id: str
    public_pem: str
    private_pem: str

    @classmethod
    def generate(cls, key_id: str) -> SigningKey:
        public_pem, private_pem = generate_rsa_public_private_key()
        return cls(key_id, public_pem, private_pem)

    @property
    def secret(self) -> CryptographicSecret:
        secret: CryptographicSecret = CryptographicSecret.from_pem(self.key_id, self.private_pem)
        return secret


@dataclass
class Received:
    """One inbox POST as it arrived; header names are lower case."""

    path: str
    headers: dict[str, str]
    body: bytes
    activity: Json | None
    # The key owner bovine's SignatureChecker vouched for, and only when it is the activity's
    # actor; None when bovine refused the signature or the owner is someone else.
    verified_owner: str | None
    note: str = ""  # why it is unverified (or "verified"): for failure messages

    @property
    def type(self) -> str:
        kind = (self.activity or {}).get("type")
        return kind if isinstance(kind, str) else repr(kind)

    def describe(self) -> str:
        actor = _id_of((self.activity or {}).get("actor"))
        state = f"verified as {self.verified_owner}" if self.verified_owner else self.note
        return f"{self.path} {self.type} actor={actor} [{state}]"


def _id_of(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _has_type(activity: Json, type_: str) -> bool:
    kind = activity.get("type")
    return kind == type_ or (isinstance(kind, list) and type_ in kind)


def _matches(where: Callable[[Json], bool] | None, activity: Json) -> bool:
    """A `where` that trips over another shape of activity (x["object"]["id"] on a string
    object) means "not this one", not a crash of the wait."""
    try:
        return where is None or where(activity)
    except (KeyError, TypeError, IndexError):
        return False


def _json_object(body: bytes) -> Json | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Repeated fields joined with ", " as HTTP allows, so none is silently dropped."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _find_key(document: Json, key_id: str) -> Json | None:
    """The publicKey entry (object or list) with this id, or the document itself if it is it."""
    found = document.get("publicKey")
    keys = found if isinstance(found, list) else [found]
    if document.get("id") == key_id and "publicKeyPem" in document:
        keys.append(document)
    return next((k for k in keys if isinstance(k, dict) and k.get("id") == key_id), None)


def _is_activitypub_link(link_type: str | None) -> bool:
    """Mastodon's test for a WebFinger self link: activity+json, or ld+json with the AS profile."""
    if link_type is None:
        return False
    media, _, params = link_type.partition(";")
    media = media.strip().lower()
    if media == ACTIVITY_JSON:
        return True
    profile = re.search(r'profile\s*=\s*"?([^";]+)"?', params)
    return media == "application/ld+json" and profile is not None and profile[1] == AS_CONTEXT


def sign_request(
    key: SigningKey, method: str, target: str, headers: Mapping[str, str], fields: Sequence[str]
) -> str:
    """A draft-cavage Signature header made by bovine over `fields` (taken from `headers`; a
    field absent from them is left out of the signature)."""
    signature = HttpSignature()  # type: ignore[no-untyped-call]
    for name in fields:
        if name == "(request-target)":
            signature.with_field(name, f"{method.lower()} {target}")  # type: ignore[no-untyped-call]
        elif name in headers:
            signature.with_field(name, headers[name])  # type: ignore[no-untyped-call]
    result: str = signature.sign_for_http_draft(key.secret)
    return result


class RemoteInstance:
    """A fediverse server on 127.0.0.1 with one account, 'reader', whose RSA key bovine made."""

    def __init__(self, host: str = "127.0.0.1", *, refuse_unsigned: bool = False) -> None:
        self.host = host
        self.refuse_unsigned = refuse_unsigned  # answer 401 to inbox POSTs that fail verification
        self.failing = 0  # answer this many next inbox POSTs 503, as a server that is down would
        self.failing_status = 503  # ... or 410, as a server whose account was deleted would
        self.gone = False  # the account was deleted: its actor document answers 410
        self.received: list[Received] = []
        self.sent: dict[str, Json] = {}  # our activities by id, served at their ids
        self.base_url = self.actor_id = self.key_id = self.inbox = self.shared_inbox = ""
        self._public_pem, self._private_pem = generate_rsa_public_private_key()
        self._taken: set[int] = set()
        self._changed = asyncio.Condition()
        self._last_post: tuple[str, dict[str, str], bytes] | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._signed: SignedHttpClient | None = None

    @property
    def authority(self) -> str:
        return self.base_url.removeprefix("http://")

    @property
    def handle(self) -> str:
        return f"{USERNAME}@{self.authority}"

    @property
    def key(self) -> SigningKey:
        return SigningKey(self.key_id, self._public_pem, self._private_pem)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/webfinger", self._webfinger)
        app.router.add_get(f"/users/{USERNAME}", self._actor)
        app.router.add_get(f"/users/{USERNAME}/{{name:outbox|followers|following}}", self._empty)
        app.router.add_get("/activities/{uuid}", self._activity)
        app.router.add_post(f"/users/{USERNAME}/inbox", self._inbox)
        app.router.add_post("/inbox", self._inbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}"
        self.actor_id = f"{self.base_url}/users/{USERNAME}"
        self.key_id = f"{self.actor_id}#main-key"
        self.inbox = f"{self.actor_id}/inbox"
        self.shared_inbox = f"{self.base_url}/inbox"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._signed = SignedHttpClient(self._session, self.key_id, self._private_pem)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._session = self._signed = self._runner = None

    async def __aenter__(self) -> RemoteInstance:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- served documents --------------------------------------------------------------------

    def actor_document(self) -> Json:
        return {
            "@context": [AS_CONTEXT, SECURITY_CONTEXT],
            "id": self.actor_id,
            "type": "Person",
            "preferredUsername": USERNAME,
            "name": "Reader",
            "inbox": self.inbox,
            "outbox": f"{self.actor_id}/outbox",
            "followers": f"{self.actor_id}/followers",
            "following": f"{self.actor_id}/following",
            "manuallyApprovesFollowers": False,
            "endpoints": {"sharedInbox": self.shared_inbox},
            "publicKey": {
                "id": self.key_id,
                "owner": self.actor_id,
                "publicKeyPem": self._public_pem,
            },
        }

    async def _actor(self, request: web.Request) -> web.Response:
        if self.gone:
            return web.Response(status=410, text="gone")
        return web.json_response(self.actor_document(), content_type=ACTIVITY_JSON)

    async def _empty(self, request: web.Request) -> web.Response:
        collection = {
            "@context": AS_CONTEXT,
            "id": f"{self.actor_id}/{request.match_info['name']}",
            "type": "OrderedCollection",
            "totalItems": 0,
            "orderedItems": [],
        }
        return web.json_response(collection, content_type=ACTIVITY_JSON)

    async def _activity(self, request: web.Request) -> web.Response:
        activity = self.sent.get(f"{self.base_url}{request.path}")
        if activity is None:
            raise web.HTTPNotFound()
        return web.json_response(activity, content_type=ACTIVITY_JSON)

    async def _webfinger(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        if resource not in (f"acct:{self.handle}", self.actor_id):
            raise web.HTTPNotFound()
        document = {
            "subject": f"acct:{self.handle}",
            "aliases": [self.actor_id],
            "links": [{"rel": "self", "type": ACTIVITY_JSON, "href": self.actor_id}],
        }
        return web.json_response(document, content_type=JRD_JSON)

    # -- the inbox ---------------------------------------------------------------------------

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = _lower_headers(request.headers)
        activity = _json_object(body)
        # The URL as the sender addressed it: bovine rebuilds (request-target) from its path.
        url = f"{self.base_url}{request.raw_path}"
        owner, note = await self._verify(request.method, url, headers, body, activity)
        if self.failing > 0:
            self.failing -= 1
            status = self.failing_status
            async with self._changed:
                self.received.append(
                    Received(request.path, headers, body, activity, None, str(status))
                )
                self._changed.notify_all()
            return web.Response(status=status, text="not now")
        async with self._changed:
            self.received.append(Received(request.path, headers, body, activity, owner, note))
            self._changed.notify_all()
        if owner is None and self.refuse_unsigned:
            return web.Response(status=401, text=note)
        return web.Response(status=202)

    async def _verify(
        self, method: str, url: str, headers: dict[str, str], body: bytes, activity: Json | None
    ) -> tuple[str | None, str]:
        """bovine's verdict, then the rule every server adds: the signer is the activity's actor."""
        if "signature" not in headers:
            return None, "unsigned"
        problems: list[str] = []

        async def read_body() -> bytes:
            return body

        checker = SignatureChecker(self._key_retriever(problems))
        try:
            owner = await checker.validate_signature(method, url, headers, read_body)
        except Exception as error:  # bovine's RFC 9421 branch lets parse errors through
            return None, f"bovine raised {error!r}"
        if owner is None:
            return None, "bovine refused the signature" + "".join(f"; {p}" for p in problems)
        actor = _id_of((activity or {}).get("actor"))
        if owner != actor:
            return None, f"signed by {owner} but the actor is {actor}"
        return owner, "verified"

    def _key_retriever(
        self, problems: list[str]
    ) -> Callable[[str], Awaitable[CryptographicIdentifier | None]]:
        async def retrieve(key_id: str) -> CryptographicIdentifier | None:
            try:
                return await self.resolve_key(key_id)
            except Exception as error:
                problems.append(f"key {key_id}: {error}")
                raise

        return retrieve

    async def resolve_key(self, key_id: str) -> CryptographicIdentifier:
        """keyId -> (public key, owner), from the document at keyId without its fragment; a key
        whose owner is another document counts only if that owner lists the key too."""
        document = await self.fetch(urldefrag(key_id).url)
        key = _find_key(document, key_id)
        if key is None:
            raise FediverseError(f"{key_id} is not among its document's publicKey")
        owner, pem = key.get("owner"), key.get("publicKeyPem")
        if not isinstance(owner, str) or not isinstance(pem, str):
            raise FediverseError(f"{key_id} has no owner or publicKeyPem")
        if owner != document.get("id") and _find_key(await self.fetch(owner), key_id) is None:
            raise FediverseError(f"{key_id}'s owner {owner} does not list it")
        identifier: CryptographicIdentifier = CryptographicIdentifier.from_pem(pem, owner)
        return identifier

    async def until(self, check: Callable[[list[Received]], bool], *, timeout: float = 30) -> None:
        """Wait until ``check`` holds of everything received (verified or not)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: check(self.received))

    async def next_activity(
        self, type_: str, *, timeout: float = 30, where: Callable[[Json], bool] | None = None
    ) -> Received:
        """The oldest verified inbox activity of this type (and matching `where`) that no earlier
        call returned, waiting for it to arrive."""

        def pending() -> int | None:
            for index, item in enumerate(self.received):
                activity = item.activity
                if index in self._taken or item.verified_owner is None or activity is None:
                    continue
                if _has_type(activity, type_) and _matches(where, activity):
                    return index
            return None

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: pending() is not None)
                index = pending()
        except TimeoutError:
            seen = "\n  ".join(r.describe() for r in self.received) or "nothing"
            wanted = f"verified {type_}" + ("" if where is None else " matching `where`")
            message = f"{self.handle}: no {wanted} within {timeout}s; received:\n  {seen}"
            raise TimeoutError(message) from None
        assert index is not None
        self._taken.add(index)
        return self.received[index]

    # -- the client side ---------------------------------------------------------------------

    async def lookup(self, handle: str) -> str:
        """An actor URL from a handle, as Mastodon's ResolveAccountService finds it: WebFinger
        the acct: URI, accept a different subject only if WebFinger on it confirms itself."""
        name, domain = parse_fediverse_handle(handle)
        if domain is None:
            raise ValueError(f"{handle!r} is not name@host[:port]")
        subject, href = await self._webfinger_lookup(name, domain)
        if subject.lower() != f"acct:{name}@{domain}".lower():
            name, domain = parse_fediverse_handle(subject)
            if domain is None:
                raise FediverseError(f"WebFinger for {handle} answered subject {subject!r}")
            confirmed, href = await self._webfinger_lookup(name, domain)
            if confirmed.lower() != subject.lower():
                raise FediverseError(f"WebFinger for {handle}: {subject} does not confirm itself")
        return href

    async def _webfinger_lookup(self, name: str, domain: str) -> tuple[str, str]:
        url = f"http://{domain}/.well-known/webfinger"
        params = {"resource": f"acct:{name}@{domain}"}
        headers = {"Accept": f"{JRD_JSON}, application/json"}
        async with self._client.get(url, params=params, headers=headers) as response:
            text = await response.text()
            if response.status != 200:
                raise FediverseError(
                    f"WebFinger {params['resource']}: {response.status} {text[:500]}",
                    response.status,
                    text,
                )
        data = JrdData.model_validate_json(text)
        links = [
            link.href
            for link in data.links or []
            if link.rel == "self" and _is_activitypub_link(link.type) and link.href
        ]
        if not links or data.subject is None:
            raise FediverseError(f"WebFinger {params['resource']}: no subject or self link: {text}")
        return data.subject, links[0]

    async def fetch(self, url: str) -> Json:
        """GET signed by bovine (authorized-fetch style), JSON decoded."""
        response = await self._signer.get(url)
        async with response:
            text = await response.text()
            if not 200 <= response.status < 300:
                raise FediverseError(
                    f"GET {url}: {response.status} {text[:500]}", response.status, text
                )
        data = json.loads(text)
        if not isinstance(data, dict):
            raise FediverseError(f"GET {url}: not a JSON object: {text[:500]}")
        return data

    async def follow(self, actor_url: str) -> str:
        """Fetch the actor and deliver a Follow to its inbox; the Follow's id."""
        follow = self._activity_doc("Follow", actor_url)
        await self._deliver(await self._inbox_of(actor_url), follow)
        return str(follow["id"])

    async def undo_follow(self, actor_url: str, follow_id: str) -> None:
        follow = {"id": follow_id, "type": "Follow", "actor": self.actor_id, "object": actor_url}
        await self._deliver(await self._inbox_of(actor_url), self._activity_doc("Undo", follow))

    def _activity_doc(self, type_: str, object_: object) -> Json:
        activity_id = f"{self.base_url}/activities/{uuid.uuid4()}"
        activity = {
            "@context": AS_CONTEXT,
            "id": activity_id,
            "type": type_,
            "actor": self.actor_id,
            "object": object_,
        }
        self.sent[activity_id] = activity
        return activity

    async def _inbox_of(self, actor_url: str) -> str:
        inbox = (await self.fetch(actor_url)).get("inbox")
        if not isinstance(inbox, str):
            raise FediverseError(f"{actor_url} has no inbox")
        return inbox

    async def _deliver(self, inbox: str, activity: Json) -> None:
        """POST through bovine's own client: its headers, its digest, its signature."""
        response = await self._signer.post(inbox, json.dumps(activity))
        async with response:
            text = await response.text()
            if not 200 <= response.status < 300:
                raise FediverseError(
                    f"POST {activity['type']} to {inbox}: {response.status} {text[:500]}",
                    response.status,
                    text,
                )

    async def post(
        self,
        inbox: str,
        activity: Mapping[str, object] | bytes,
        *,
        sign: bool = True,
        key: SigningKey | None = None,
        headers: Mapping[str, str | None] | None = None,
        signed_headers: Sequence[str] = POST_SIGNED_HEADERS,
    ) -> tuple[int, str]:
        """A raw POST for negative tests. `headers` override (None removes) host, date, digest
        and content-type before signing, so an old Date is signed as sent; a `signature` given
        there replaces ours. Signed by bovine with `key` (default: this account's)."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        host, target = host_target_from_url(inbox)  # type: ignore[no-untyped-call]
        final = {
            "host": host,
            "date": get_gmt_now(),
            "digest": content_digest_sha256(body),
            "content-type": ACTIVITY_JSON,
        }
        overrides = {name.lower(): value for name, value in (headers or {}).items()}
        for name, value in overrides.items():
            if value is None:
                final.pop(name, None)
            elif name != "signature":
                final[name] = value
        if sign and "signature" not in overrides:
            final["signature"] = sign_request(
                key or self.key, "post", target, final, signed_headers
            )
        elif overrides.get("signature"):
            final["signature"] = str(overrides["signature"])
        self._last_post = (inbox, final, body)
        return await self._send(inbox, final, body)

    async def replay(self) -> tuple[int, str]:
        """The last post() again: the same URL, header values and body bytes."""
        if self._last_post is None:
            raise RuntimeError("nothing posted yet")
        return await self._send(*self._last_post)

    async def _send(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        async with self._client.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()

    @property
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RemoteInstance not started")
        return self._session

    @property
    def _signer(self) -> SignedHttpClient:
        if self._signed is None:
            raise RuntimeError("RemoteInstance not started")
        return self._signed


__all__ = [
    "FediverseError",
    "Received",
    "RemoteInstance",
    "SigningKey",
    "sign_request",
]
