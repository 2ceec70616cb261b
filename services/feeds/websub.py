"""A built-in WebSub hub (W3C WebSub, 2018) for our feeds, and a client for an external hub.

Subscribers ``POST`` a form to the hub; the hub verifies their intent with a ``GET`` to their
callback carrying a random ``hub.challenge``, and only then stores (or removes) the subscription.
When a feed changes, :meth:`Hub.publish` ``POST``\\ s the feed's current bytes to every subscriber
whose lease has not run out, signed with ``X-Hub-Signature: sha256=...`` when the subscriber gave
a secret. Failed deliveries are retried on a schedule kept in the database, so a restart or another
replica picks them up, and a retry always sends the feed as it is *then*, never stale bytes.

Storage, and why it looks like this. FerretDB 1.24 (our test database) uses an index only for a
filter that is exactly ``{"_id": value}``, and it runs every update, ``$inc`` and
``findAndModify`` as read, change in memory, write back by ``_id``, without a transaction. Measured
on it: 50 concurrent ``$set`` of different ``subs.<key>`` fields of one document kept 7; 8
concurrent ``find_one_and_update({"_id": x, "claim": None}, ...)`` calls all "won". So:

* one document per subscription (not one per topic with a map of subscribers): concurrent
  (un)subscriptions to one topic touch different documents, and none is lost;
* a claim on a due retry is an *insert* of a claim document with a unique ``_id``, which is atomic
  on FerretDB (SQLite's primary key) and on MongoDB; updates are never relied on to be atomic.

Document shapes (``sid`` = ``digest(topic) + ":" + digest(callback)``, 32 hex digits each)::

    websub_subscriptions  {_id: sid, topic, callback, secret?, credential?, lease_seconds, expires,
                           verified}
    websub_retries        {_id: sid, topic, gen, failures, due, first_failed, last_error}
    websub_claims         {_id: "<gen>:<n>", retry: sid, gen, expires}

A retry's ``gen`` changes whenever it is rescheduled. Claim ``<gen>:0`` owns that generation; if
its holder dies, the next runner takes over with ``<gen>:1`` once ``<gen>:0`` has expired, and so
on. A holder finishes within its claim (deliveries are cut off well before the claim expires), so
two replicas never deliver the same retry at the same time.

``hub.secret`` is stored as given, because HMAC needs it: the database holding these collections
must be protected like any store of credentials. Secrets and callback query strings (which often
carry tokens) never appear in logs.

Private feeds. The endpoint's ``prepare`` hook (the feeds service's: a partner feed's topic must
carry the partner's ``?token=``) may attach a ``credential`` to a subscription: the SHA-256 of the
token it was made with, never the token. Before every delivery, retries included, the hub asks
``authorised`` whether the subscription may still have its topic; one that may not (its token was
revoked or has expired, its partner was removed or had WebSub turned off) is removed, so revoking
a token stops the pushes made with it as it stops the polls. A partner renewing its lease before
its old token's grace period ends (the default lease, 5 days, is shorter than the default grace, 7)
moves its subscription to the new token without a gap.

Callbacks are chosen by anyone on the internet, so (issue 18):

* SSRF. A callback must be http(s) without user info, and must not name or resolve to our own
  network (:mod:`shared.netguard`): refused at the door with a reason, and again on the address
  actually connected, for the verification, every delivery and every retry (the client given to
  the hub is a :func:`shared.netguard.guarded_client`; redirects are never followed).
* Denial of service. Pending verifications are bounded per callback host and in total (429 and
  503 with a reason beyond that); verification and delivery run at most ``per_host`` requests at
  once per callback host, so one host's hanging callbacks queue behind each other, not in front
  of everyone else's; a host whose request timed out is backed off (``host_backoff``, growing
  with each timeout): its subscribe requests are refused and deliveries to it go straight to
  the persisted retry schedule, due when the back-off ends. A delivery never holds up the feed's
  next publish: each subscription has at most one delivery in flight, and a publish meanwhile
  makes it deliver again when done.
* Publish pings (``hub.mode=publish``, anonymous by nature) are accepted but cost no delivery
  when nothing changed: the hub remembers the digest of what it last offered each subscription
  (``websub_sent``: delivered, or failed and left to the retry schedule, which always sends the
  feed as it is then) and sends a feed only to subscriptions not yet offered these bytes.

The limits and back-off are per replica (in memory): a restart forgets a host's back-off, at
the price of one more timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import Counter as PromCounter
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.feeds.background import Background
from shared import netguard
from shared.contracts import utcnow
from shared.storage import Collection, Database, Document

log = logging.getLogger(__name__)

SUBSCRIPTIONS = Collection("websub_subscriptions", (IndexModel([("topic", ASCENDING)]),))
RETRIES = Collection("websub_retries", (IndexModel([("due", ASCENDING)]),))
CLAIMS = Collection("websub_claims", (IndexModel([("expires", ASCENDING)]),))
#: {_id: sid, topic, tag}: the digest of the content last offered to each subscription
#: (delivered, or failed and handed to the retry schedule).
SENT = Collection("websub_sent", (IndexModel([("topic", ASCENDING)]),))
COLLECTIONS = (SUBSCRIPTIONS, RETRIES, CLAIMS, SENT)

MAX_URL_LENGTH = 2048
MAX_SECRET_BYTES = 200  # the spec: "MUST be less than 200 bytes"
MAX_FORM_BYTES = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
#: What a failed request to a subscriber can raise (a bad URL, the network, a timeout).
HTTP_FAILURES: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    TimeoutError,
)
#: How many expired claims of one retry generation a runner walks past before giving up the walk.
MAX_TAKEOVERS = 64

IsTopic = Callable[[str], Awaitable[bool]]
#: Whether a stored subscription may still receive its topic.
Authorised = Callable[[Document], Awaitable[bool]]
#: The form field by which only ``prepare`` (see :func:`install`) hands the hub a subscription's
#: credential; a field of this name sent by a client is dropped before ``prepare`` runs.
CREDENTIAL = "hub.x-credential"
Content = Callable[[str], Awaitable[tuple[bytes, str] | None]]
Clock = Callable[[], datetime]


class HubPublisher(Protocol):
    """What the feeds service calls when a feed changed; the built-in or an external hub."""

    hub_url: str

    async def publish(self, topic: str) -> int: ...


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def subscription_id(topic: str, callback: str) -> str:
    return f"{digest(topic)}:{digest(callback)}"


def content_tag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def host_of(url: str) -> str:
    """The callback host that limits and back-off are kept for (a name or an address)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def redact(url: str) -> str:
    """A URL safe to log: no user info, query string or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value for a delivery."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def with_query(url: str, params: Mapping[str, str]) -> str:
    """Append parameters to a callback URL, keeping whatever query it already has."""
    parts = urlsplit(url)
    sep = "" if url.endswith(("?", "&")) else ("&" if parts.query else "?")
    return url + sep + urlencode(params)


@dataclass(frozen=True)
class Outcome:
    result: Literal["delivered", "gone", "failed"]
    detail: str  # HTTP status or the error's class: safe to store and log


def failure(exc: BaseException) -> Outcome:
    """The outcome of a request that raised: ``BlockedAddress`` when the guard refused it."""
    return Outcome("failed", "BlockedAddress" if netguard.blocked(exc) else type(exc).__name__)


def hung(exc: BaseException) -> bool:
    """Whether a failed request waited out a timeout (the host hangs), as opposed to a quick
    refusal: only those back a host off."""
    return isinstance(exc, httpx.TimeoutException | TimeoutError)


class HostSlots:
    """At most ``per_host`` requests at once to one callback host and ``total`` overall. A
    request waits for its host's slot before it takes one of the shared ones, so a host with
    many slow callbacks queues only behind itself."""

    def __init__(self, per_host: int, total: int) -> None:
        self.per_host = per_host
        self._total = asyncio.Semaphore(total)
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        gate, users = self._hosts.setdefault(host, (asyncio.Semaphore(self.per_host), [0]))
        users[0] += 1
        try:
            async with gate, self._total:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._hosts[host]


class HostBackoff:
    """Hosts whose requests timed out, and until when they are left alone. Each timeout in a
    row takes the next (longer) delay; any answer clears the host. Bounded: the oldest entries
    go first when there are too many."""

    MAX_HOSTS = 10_000

    def __init__(self, delays: Sequence[float], clock: Clock) -> None:
        self.delays = tuple(float(d) for d in delays)
        self.clock = clock
        self._hosts: dict[str, tuple[datetime, int]] = {}

    def until(self, host: str) -> datetime | None:
        """When the host's back-off ends, if it is backed off now."""
        found = self._hosts.get(host)
        return found[0] if found and found[0] > self.clock() else None

    def timed_out(self, host: str) -> None:
        if not self.delays:
            return
        strikes = self._hosts.pop(host, (self.clock(), 0))[1] + 1
        delay = self.delays[min(strikes, len(self.delays)) - 1]
        self._hosts[host] = (self.clock() + timedelta(seconds=delay), strikes)
        while len(self._hosts) > self.MAX_HOSTS:
            del self._hosts[next(iter(self._hosts))]
        log.info("callback host backed off", extra={"host": host, "seconds": delay})

    def answered(self, host: str) -> None:
        self._hosts.pop(host, None)


class Invalid(Exception):
    """A hub request that cannot be accepted: ``status`` and a reason a person can act on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Hub:
    """The WebSub hub: subscriptions, verification of intent, content distribution, retries."""

    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        hub_url: str,
        is_topic: IsTopic,
        content: Content,
        *,
        lease_default: int = 86400 * 5,
        lease_min: int = 300,
        lease_max: int = 86400 * 30,
        retry_delays: Sequence[float] = (5, 30, 120, 600, 1800, 3600),
        clock: Clock = utcnow,
        concurrency: int = 64,
        delivery_timeout: float = 30.0,
        claim_seconds: float = 300.0,
        retry_batch: int = 200,
        publish_pings: bool = True,
        authorised: Authorised | None = None,
        policy: netguard.Policy | None = None,
        resolver: netguard.Resolver | None = None,
        per_host: int = 2,
        pending_per_host: int = 4,
        pending_max: int = 256,
        host_backoff: Sequence[float] = (30, 120, 600, 3600),
        deliveries: PromCounter | None = None,
    ) -> None:
        if not lease_min <= lease_default <= lease_max:
            raise ValueError("need lease_min <= lease_default <= lease_max")
        if claim_seconds < 2 * delivery_timeout:
            # a claim must outlive the work done under it, or a second replica could take over
            raise ValueError("claim_seconds must be at least twice delivery_timeout")
        self.subscriptions = db[SUBSCRIPTIONS.name]
        self.retries = db[RETRIES.name]
        self.claims = db[CLAIMS.name]
        self.sent = db[SENT.name]
        self.client = client
        self.hub_url = hub_url
        self.is_topic = is_topic
        self.content = content
        self.lease_default, self.lease_min, self.lease_max = lease_default, lease_min, lease_max
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.clock = clock
        self.delivery_timeout = delivery_timeout
        self.claim_seconds = claim_seconds
        self.retry_batch = retry_batch
        self.publish_pings = publish_pings
        self.authorised = authorised
        # Without a resolver only literal hosts are screened at the door; the client given to
        # the hub (a netguard.guarded_client in the service) vets every connection.
        self.policy = policy or netguard.Policy()
        self.resolver = resolver
        self.pending_per_host, self.pending_max = pending_per_host, pending_max
        self._slots = HostSlots(per_host, concurrency)  # deliveries, retries included
        self._verifying = HostSlots(per_host, pending_max)  # verification requests
        self.backoff = HostBackoff(host_backoff, clock)
        self._pending: Counter[str] = Counter()  # host -> verifications not finished
        self._background = Background("websub background work")
        self._publishing: dict[str, bool] = {}  # topic -> "publish again when done"
        self._inflight: dict[str, bool] = {}  # sid -> "deliver again when done"
        self.deliveries = deliveries  # syndication_websub_deliveries_total{result}

    # ------------------------------------------------------------------ subscriber requests

    async def request(self, form: Mapping[str, str]) -> tuple[int, str]:
        """Handle one hub request (the form a subscriber or publisher posted).

        Subscribe and unsubscribe answer 202 at once; verification of intent follows in the
        background. ``hub.mode=publish`` (``hub.url`` or ``hub.topic``) schedules a publish.
        """
        try:
            mode = form.get("hub.mode", "").strip()
            if mode in ("subscribe", "unsubscribe"):
                await self._subscription_request(mode, form)
            elif mode == "publish":
                await self._publish_request(form)
            elif not mode:
                raise Invalid(400, "hub.mode is required: subscribe, unsubscribe or publish")
            else:
                raise Invalid(
                    400, f"unknown hub.mode {mode[:40]!r}: use subscribe, unsubscribe or publish"
                )
        except Invalid as exc:
            return exc.status, exc.reason
        return 202, "accepted"

    async def _subscription_request(self, mode: str, form: Mapping[str, str]) -> None:
        callback = check_url(form.get("hub.callback", ""), "hub.callback")
        if urlsplit(callback).fragment:
            raise Invalid(400, "hub.callback must not contain a fragment (#...)")
        topic = form.get("hub.topic", "").strip()
        if not topic:
            raise Invalid(400, "hub.topic is required: the URL of the feed")
        if len(topic) > MAX_URL_LENGTH:
            raise Invalid(400, f"hub.topic is longer than {MAX_URL_LENGTH} characters")
        lease = self.lease_default
        raw_lease = form.get("hub.lease_seconds", "").strip()
        if raw_lease:
            try:
                lease = int(raw_lease)
            except ValueError:
                raise Invalid(400, "hub.lease_seconds must be a whole number of seconds") from None
        lease = min(max(lease, self.lease_min), self.lease_max)
        secret = form.get("hub.secret", "")
        if len(secret.encode()) >= MAX_SECRET_BYTES:
            raise Invalid(400, f"hub.secret must be shorter than {MAX_SECRET_BYTES} bytes")
        if not await self.is_topic(topic):
            # an unsubscription from a feed that has gone away is still honoured
            known = mode == "unsubscribe" and await self.subscriptions.find_one(
                {"_id": subscription_id(topic, callback)}, {"_id": 1}
            )
            if not known:
                raise Invalid(404, f"unknown topic {topic[:200]!r}: not a feed of this hub")
        credential = form.get(CREDENTIAL) or None
        why = await netguard.screen_url(callback, self.policy, self.resolver)
        if why is not None:
            raise Invalid(400, f"hub.callback {why}")
        host = self._admit(host_of(callback))
        work = self._verify(mode, topic, callback, lease, secret or None, credential)
        self._background.spawn(self._pending_done(host, work))

    def _admit(self, host: str) -> str:
        """Count a verification as pending for its host, or refuse it (429: this host is backed
        off or has enough pending; 503: the hub has enough pending overall)."""
        if (until := self.backoff.until(host)) is not None:
            wait = max(1, int((until - self.clock()).total_seconds()))
            raise Invalid(429, f"hub.callback's host timed out recently; retry in {wait} s")
        if self._pending[host] >= self.pending_per_host:
            raise Invalid(
                429,
                f"{self.pending_per_host} verifications for this hub.callback host are already "
                "pending; retry once they are answered",
            )
        if self._pending.total() >= self.pending_max:
            raise Invalid(503, "too many verifications pending; retry in a minute")
        self._pending[host] += 1
        return host

    async def _pending_done(self, host: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            self._pending[host] -= 1
            if self._pending[host] <= 0:
                del self._pending[host]

    async def _publish_request(self, form: Mapping[str, str]) -> None:
        if not self.publish_pings:
            raise Invalid(400, "this hub does not accept hub.mode=publish")
        topic = (form.get("hub.url") or form.get("hub.topic") or "").strip()
        if not topic:
            raise Invalid(400, "hub.mode=publish needs hub.url (or hub.topic): the changed feed")
        if len(topic) > MAX_URL_LENGTH or not await self.is_topic(topic):
            raise Invalid(404, f"unknown topic {topic[:200]!r}: not a feed of this hub")
        self.schedule_publish(topic)

    async def _verify(
        self,
        mode: str,
        topic: str,
        callback: str,
        lease: int,
        secret: str | None,
        credential: str | None = None,
    ) -> None:
        """Verification of intent; only a 2xx answer echoing the challenge changes anything."""
        challenge = secrets.token_urlsafe(32)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            params["hub.lease_seconds"] = str(lease)
        where = {"topic": topic, "callback": redact(callback), "mode": mode}
        host = host_of(callback)
        try:
            # entered in order: the timeout starts once a verification slot is free
            async with (
                self._verifying.slot(host),
                asyncio.timeout(self.delivery_timeout),
                self.client.stream("GET", with_query(callback, params)) as response,
            ):
                echoed = await read_at_most(response, len(challenge) + 1)
                status = response.status_code
        except HTTP_FAILURES as exc:
            if hung(exc):
                self.backoff.timed_out(host)
            log.info("verification failed", extra={**where, "error": failure(exc).detail})
            return
        self.backoff.answered(host)
        if not 200 <= status < 300 or echoed != challenge.encode():
            log.info(
                "verification refused",
                extra={**where, "status": status, "echoed": echoed == challenge.encode()},
            )
            return
        sid = subscription_id(topic, callback)
        if mode == "subscribe":
            now = self.clock()
            doc: Document = {
                "_id": sid,
                "topic": topic,
                "callback": callback,
                "lease_seconds": lease,
                "expires": now + timedelta(seconds=lease),
                "verified": now,
            }
            if secret is not None:
                doc["secret"] = secret
            if credential is not None:
                doc["credential"] = credential
            await self.subscriptions.replace_one({"_id": sid}, doc, upsert=True)
            await self.sent.delete_one({"_id": sid})  # a (re)subscriber gets the next publish
            log.info("subscribed", extra={**where, "lease_seconds": lease})
        else:
            await self._forget(sid)
            log.info("unsubscribed", extra=where)

    # ------------------------------------------------------------------ content distribution

    async def notify(self, topic: str) -> int:
        """The feeds service's hook: publish in the background and return at once, so no
        subscriber, however slow, holds up rendering or the Kafka consumer."""
        self.schedule_publish(topic)
        return 0

    def schedule_publish(self, topic: str) -> None:
        """Publish in the background; pings for a topic already being published coalesce into
        one more run after the current one."""
        if topic in self._publishing:
            self._publishing[topic] = True
            return
        self._publishing[topic] = False
        self._background.spawn(self._publish_coalesced(topic))

    async def _publish_coalesced(self, topic: str) -> None:
        try:
            again = True
            while again:
                self._publishing[topic] = False
                await self._start_deliveries(topic)  # they run on their own
                again = self._publishing[topic]
        finally:
            del self._publishing[topic]

    async def publish(self, topic: str) -> int:
        """Deliver the topic's current content to its live subscribers that have not had it yet,
        and wait for those deliveries; the number started. Failures are scheduled for retry."""
        started = await self._start_deliveries(topic)
        await asyncio.gather(*started)
        return len(started)

    async def _live(self, topic: str) -> list[Document]:
        """The topic's subscriptions that may receive it now; expired and revoked ones go."""
        now = self.clock()
        live: list[Document] = []
        # With FerretDB this filter reads the whole subscriptions collection (one small document
        # per subscriber, all topics); MongoDB uses the topic index. Acceptable at the scale of
        # partner cities, and the price of never losing a concurrent subscription (see above).
        async for sub in self.subscriptions.find({"topic": topic}):
            if sub["expires"] <= now:
                await self._expire(sub, now)
            elif not await self._allowed(sub):
                await self._unauthorised(sub)
            else:
                live.append(sub)
        return live

    async def _start_deliveries(self, topic: str) -> list[asyncio.Task[None]]:
        """Start a delivery to every live subscription not yet offered this exact content (an
        unchanged feed costs no delivery, however often it is pinged). A subscription with a
        delivery still in flight is marked to get one more when it ends."""
        live = await self._live(topic)
        if not live:  # most feeds have no subscriber: no need to read the document
            return []
        found = await self.content(topic)
        if found is None:
            log.info("nothing to publish", extra={"topic": topic})
            return []
        body, media_type = found
        tag = content_tag(body)
        sent = {doc["_id"]: doc.get("tag") async for doc in self.sent.find({"topic": topic})}
        started = []
        for sub in live:
            sid = sub["_id"]
            if sent.get(sid) == tag:
                continue
            if sid in self._inflight:
                self._inflight[sid] = True
                continue
            self._inflight[sid] = False
            started.append(self._background.spawn(self._deliver_fresh(sub, body, media_type, tag)))
        return started

    async def _deliver_fresh(self, sub: Document, body: bytes, media_type: str, tag: str) -> None:
        try:
            await self._publish_one(sub, body, media_type, tag)
        finally:
            again = self._inflight.pop(sub["_id"], False)
        if again:  # the feed was published again meanwhile: send what it is now
            self.schedule_publish(sub["topic"])

    async def _publish_one(self, sub: Document, body: bytes, media_type: str, tag: str) -> None:
        outcome = await self._send(sub, body, media_type)
        sid = sub["_id"]
        if outcome.result == "gone":
            await self._gone(sub)
            return
        # Offered: delivered, or handed to the retry schedule (which sends what is current). A
        # publish of the same bytes, however often pinged, offers nothing more.
        await self._record_sent(sub, tag)
        if outcome.result == "delivered":
            await self.retries.delete_one({"_id": sid})  # whatever was pending is now delivered
        elif not self.retry_delays:
            self._give_up(sub, 1, outcome)
        else:
            now = self.clock()
            due = now + timedelta(seconds=self.retry_delays[0])
            if (until := self.backoff.until(host_of(sub["callback"]))) is not None:
                due = max(due, until)
            first: Document = {
                "topic": sub["topic"],
                "gen": uuid.uuid4().hex,
                "failures": 1,
                "due": due,
                "first_failed": now,
                "last_error": outcome.detail,
            }
            try:
                # An earlier failure's schedule, if any, stands: it will send current content.
                await self.retries.update_one({"_id": sid}, {"$setOnInsert": first}, upsert=True)
            except DuplicateKeyError:
                pass  # a concurrent failure inserted it first
            log.info(
                "delivery failed; retry scheduled",
                extra={
                    "topic": sub["topic"],
                    "callback": redact(sub["callback"]),
                    "error": outcome.detail,
                },
            )

    async def _record_sent(self, sub: Document, tag: str) -> None:
        doc = {"_id": sub["_id"], "topic": sub["topic"], "tag": tag}
        await self.sent.replace_one({"_id": sub["_id"]}, doc, upsert=True)

    async def _send(self, sub: Document, body: bytes, media_type: str) -> Outcome:
        """One delivery under its host's limit; none while the host is backed off (checked
        again once a slot is free: the requests queued behind a hanging one then go at once)."""
        host = host_of(sub["callback"])
        outcome = Outcome("failed", "HostBackedOff")
        if self.backoff.until(host) is None:
            async with self._slots.slot(host):
                if self.backoff.until(host) is None:
                    outcome = await self._deliver(sub, body, media_type)
        if self.deliveries is not None:
            self.deliveries.labels(outcome.result).inc()
        return outcome

    async def _deliver(self, sub: Document, body: bytes, media_type: str) -> Outcome:
        headers = {
            "Content-Type": media_type,
            "Link": f'<{self.hub_url}>; rel="hub", <{sub["topic"]}>; rel="self"',
        }
        if sub.get("secret"):
            headers["X-Hub-Signature"] = signature(sub["secret"], body)
        host = host_of(sub["callback"])
        try:
            async with asyncio.timeout(self.delivery_timeout):
                async with self.client.stream(
                    "POST", sub["callback"], content=body, headers=headers
                ) as response:
                    status = response.status_code  # the body is never read
        except HTTP_FAILURES as exc:
            if hung(exc):
                self.backoff.timed_out(host)
            return failure(exc)
        self.backoff.answered(host)
        if 200 <= status < 300:
            return Outcome("delivered", str(status))
        if status == 410:
            return Outcome("gone", "410")
        return Outcome("failed", str(status))

    async def _forget(self, sid: str) -> None:
        await self.subscriptions.delete_one({"_id": sid})
        await self.retries.delete_one({"_id": sid})
        await self.sent.delete_one({"_id": sid})

    async def _gone(self, sub: Document) -> None:
        await self._forget(sub["_id"])
        log.info(
            "subscriber answered 410 Gone; subscription removed",
            extra={"topic": sub["topic"], "callback": redact(sub["callback"])},
        )

    async def _allowed(self, sub: Document) -> bool:
        return self.authorised is None or await self.authorised(sub)

    async def _unauthorised(self, sub: Document) -> None:
        await self._forget(sub["_id"])
        log.info(
            "subscription no longer authorised (its token revoked or expired, or its partner "
            "gone or without WebSub); removed",
            extra={"topic": sub["topic"], "callback": redact(sub["callback"])},
        )

    async def _expire(self, sub: Document, now: datetime) -> None:
        # The lease condition keeps a renewal that landed since the read (a scan on FerretDB,
        # and only for leases that ran out).
        await self.subscriptions.delete_one({"_id": sub["_id"], "expires": {"$lte": now}})
        await self.retries.delete_one({"_id": sub["_id"]})
        await self.sent.delete_one({"_id": sub["_id"]})
        log.info(
            "lease expired; subscription removed",
            extra={"topic": sub["topic"], "callback": redact(sub["callback"])},
        )

    def _give_up(self, sub: Document, failures: int, outcome: Outcome) -> None:
        log.warning(
            "delivery given up",
            extra={
                "topic": sub["topic"],
                "callback": redact(sub["callback"]),
                "failures": failures,
                "error": outcome.detail,
            },
        )

    # ------------------------------------------------------------------ retries

    async def run_due_retries(self) -> int:
        """Claim and run every due retry (up to ``retry_batch``); the deliveries attempted.

        Safe to run from several replicas at once: each retry is delivered by one of them.
        """
        now = self.clock()
        await self._sweep_claims(now)
        # A scan on FerretDB, bounded: this collection holds only failing deliveries (at most
        # one per subscription), and is empty while every subscriber answers.
        cursor = self.retries.find({"due": {"$lte": now}}).sort("due", ASCENDING)
        due = [doc async for doc in cursor.limit(self.retry_batch)]
        results = await asyncio.gather(
            *(self._retry_one(doc) for doc in due), return_exceptions=True
        )
        for doc, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "retry failed",
                    extra={"topic": doc.get("topic"), "retry": doc["_id"]},
                    exc_info=result,
                )
        return sum(1 for result in results if result is True)

    async def retry_loop(self, interval: float) -> None:
        """Run due retries every ``interval`` seconds until cancelled (the app's lifespan)."""
        while True:
            try:
                await self.run_due_retries()
            except Exception:  # the database may be away for a while; keep trying
                log.exception("running due retries failed")
            await asyncio.sleep(interval)

    async def _retry_one(self, doc: Document) -> bool:
        now = self.clock()
        held = await self._claim(doc, now)
        if held is None:
            return False
        attempted = await self._retry_claimed(doc, now)
        await self._release(doc["gen"], held)  # not on an exception: the claim then expires
        return attempted

    async def _claim(self, doc: Document, now: datetime) -> int | None:
        """Insert the first free claim of this retry generation; its number, or None when the
        retry is someone else's (a live claim) or no longer what we read."""
        gen = doc["gen"]
        for n in range(MAX_TAKEOVERS):
            claim_id = f"{gen}:{n}"
            try:
                await self.claims.insert_one(
                    {
                        "_id": claim_id,
                        "retry": doc["_id"],
                        "gen": gen,
                        "expires": now + timedelta(seconds=self.claim_seconds),
                    }
                )
            except DuplicateKeyError:
                other = await self.claims.find_one({"_id": claim_id})
                if other is None or other["expires"] > now:
                    return None  # held, or just finished by its holder
                continue  # its holder died: take over with the next claim
            current = await self.retries.find_one({"_id": doc["_id"]})
            if current is None or current["gen"] != gen:  # finished while we were reading
                await self._release(gen, n)
                return None
            return n
        log.error("too many dead claims on one retry", extra={"retry": doc["_id"]})
        return None

    async def _release(self, gen: str, held: int) -> None:
        for n in range(held + 1):  # ours and the expired ones we took over from
            await self.claims.delete_one({"_id": f"{gen}:{n}"})

    async def _sweep_claims(self, now: datetime) -> None:
        """Drop expired claims of generations that are over (their holder died and the retry
        was delivered or rescheduled since). Claims of a current generation stay: the chain of
        takeovers must have no gaps. The collection is nearly always empty; the scan is cheap."""
        async for claim in self.claims.find({"expires": {"$lt": now}}).limit(self.retry_batch):
            current = await self.retries.find_one({"_id": claim["retry"]}, {"gen": 1})
            if current is None or current["gen"] != claim["gen"]:
                await self.claims.delete_one({"_id": claim["_id"]})

    async def _retry_claimed(self, doc: Document, now: datetime) -> bool:
        sid, failures = doc["_id"], int(doc["failures"])
        sub = await self.subscriptions.find_one({"_id": sid})
        if sub is None:  # unsubscribed or gone since
            await self.retries.delete_one({"_id": sid})
            return False
        if sub["expires"] <= now:
            await self._expire(sub, now)
            return False
        if not await self._allowed(sub):
            await self._unauthorised(sub)
            return False
        found = await self.content(sub["topic"])
        if found is None:
            await self.retries.delete_one({"_id": sid})
            log.info("feed no longer published; retry dropped", extra={"topic": sub["topic"]})
            return False
        if (until := self.backoff.until(host_of(sub["callback"]))) is not None:
            await self._postpone(doc, until)  # not an attempt: no failure is counted
            return False
        try:
            # The claim covers the wait for a slot and the delivery (each at most half of it).
            async with asyncio.timeout(self.claim_seconds / 2):
                outcome = await self._send(sub, *found)
        except TimeoutError:
            outcome = Outcome("failed", "HostBusy")
        if outcome.result == "delivered":
            await self.retries.delete_one({"_id": sid})
            await self._record_sent(sub, content_tag(found[0]))
            log.info(
                "retry delivered",
                extra={
                    "topic": sub["topic"],
                    "callback": redact(sub["callback"]),
                    "failures": failures,
                },
            )
        elif outcome.result == "gone":
            await self._gone(sub)
        elif failures >= len(self.retry_delays):  # that was the last delay
            await self.retries.delete_one({"_id": sid})
            self._give_up(sub, failures + 1, outcome)
        else:
            due = now + timedelta(seconds=self.retry_delays[failures])
            if (until := self.backoff.until(host_of(sub["callback"]))) is not None:
                due = max(due, until)
            # Matches nothing if a publish delivered (and deleted the retry) meanwhile.
            await self.retries.update_one(
                {"_id": sid},
                {
                    "$set": {
                        "gen": uuid.uuid4().hex,
                        "failures": failures + 1,
                        "due": due,
                        "last_error": outcome.detail,
                    }
                },
            )
        return True

    async def _postpone(self, doc: Document, until: datetime) -> None:
        await self.retries.update_one(
            {"_id": doc["_id"], "gen": doc["gen"]},
            {"$set": {"gen": uuid.uuid4().hex, "due": until}},
        )

    # ------------------------------------------------------------------ lifecycle

    async def drain(self) -> None:
        """Wait for background verifications and publishes (tests; graceful shutdown)."""
        await self._background.drain()

    async def aclose(self) -> None:
        """Cancel background work (shutdown without waiting)."""
        await self._background.aclose()


def check_url(value: str, name: str) -> str:
    url = value.strip()
    if not url:
        raise Invalid(400, f"{name} is required: an absolute http or https URL")
    if len(url) > MAX_URL_LENGTH:
        raise Invalid(400, f"{name} is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        raise Invalid(400, f"{name} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise Invalid(400, f"{name} must be an absolute http or https URL")
    return url


async def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The start of a response body, without reading more than ``limit`` bytes of it."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


# ---------------------------------------------------------------------- HTTP


Prepare = Callable[[dict[str, str]], Awaitable[tuple[int, str] | None]]

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
#: The endpoint in the OpenAPI document: the form, and every answer (plain text, as the WebSub
#: recommendation asks of a hub's errors).
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["hub.mode"],
                    "properties": {
                        "hub.mode": {
                            "type": "string",
                            "enum": ["subscribe", "unsubscribe", "publish"],
                        },
                        "hub.topic": {
                            "type": "string",
                            "description": "The feed's URL; a partner feed's carries ?token=",
                        },
                        "hub.callback": {
                            "type": "string",
                            "description": "Absolute http(s) URL the hub verifies and pushes to",
                        },
                        "hub.secret": {
                            "type": "string",
                            "description": "Key of the X-Hub-Signature HMAC (under 200 bytes)",
                        },
                        "hub.lease_seconds": {"type": "string", "pattern": "^[0-9]{1,9}$"},
                        "hub.url": {"type": "string", "description": "publish: the changed feed"},
                    },
                }
            }
        },
    },
    "responses": {
        "202": {"description": "Accepted; verification of intent follows", "content": _TEXT},
        **{
            str(status): {"description": why, "content": _TEXT}
            for status, why in (
                (
                    400,
                    "A field is missing or invalid (the reason says which), or hub.callback "
                    "is not a public http(s) URL",
                ),
                (403, "A partner feed without its partner's valid token, or WebSub disabled"),
                (404, "Not a feed of this hub"),
                (413, "The form is too large"),
                (415, "Not form-encoded"),
                (429, "Too many verifications pending for the callback's host, or it timed out"),
                (503, "Too many verifications pending in all; retry in a minute"),
            )
        },
    },
}


def install(api: FastAPI, hub: Hub, path: str = "/websub", prepare: Prepare | None = None) -> None:
    """The hub endpoint: ``POST {path}`` with a form-encoded body. ``prepare`` may rewrite the
    form (say, a private feed's topic to its canonical URL, with the token's digest as
    :data:`CREDENTIAL`) or refuse it with (status, reason)."""

    @api.post(
        path,
        summary="WebSub hub: subscribe, unsubscribe or publish (form-encoded hub.* fields)",
        response_class=PlainTextResponse,
        status_code=202,
        tags=["websub"],
        openapi_extra=OPENAPI,
    )
    async def websub_hub(request: Request) -> PlainTextResponse:
        media_type = request.headers.get("content-type", FORM_TYPE).split(";")[0].strip()
        if media_type.lower() != FORM_TYPE:
            return PlainTextResponse(f"send the hub.* fields as {FORM_TYPE}", status_code=415)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return PlainTextResponse(
                    f"request larger than {MAX_FORM_BYTES} bytes", status_code=413
                )
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return PlainTextResponse("the form is not valid UTF-8 form encoding", status_code=400)
        form.pop(CREDENTIAL, None)  # only prepare may say what a subscription is made with
        if prepare is not None and (refused := await prepare(form)) is not None:
            return PlainTextResponse(refused[1], status_code=refused[0])
        status, message = await hub.request(form)
        return PlainTextResponse(message, status_code=status)


# ---------------------------------------------------------------------- external hub


class ExternalHub:
    """Pings an external hub (``FEEDS_WEBSUB_HUB_URL``), which then fetches and distributes the
    feed itself. Same ``publish`` as :class:`Hub`; failures are logged, not raised."""

    def __init__(self, client: httpx.AsyncClient, hub_url: str) -> None:
        self.client = client
        self.hub_url = hub_url

    async def publish(self, topic: str) -> int:
        """1 if the hub accepted the ping, else 0."""
        try:
            response = await self.client.post(
                self.hub_url, data={"hub.mode": "publish", "hub.url": topic}
            )
        except HTTP_FAILURES as exc:
            log.warning(
                "hub ping failed",
                extra={"hub": redact(self.hub_url), "topic": topic, "error": type(exc).__name__},
            )
            return 0
        if not response.is_success:
            log.warning(
                "hub refused ping",
                extra={"hub": redact(self.hub_url), "topic": topic, "status": response.status_code},
            )
            return 0
        return 1
