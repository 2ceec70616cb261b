"""The WebSub hub without infrastructure: an in-memory database, subscribers behind
``httpx.MockTransport``, and a clock the tests move by hand."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pymongo.errors import DuplicateKeyError

from services.feeds import websub
from services.feeds.websub import ExternalHub, Hub, subscription_id
from shared import metrics

TOPIC = "https://feeds.example/feeds/tehran/en.atom"
OTHER_TOPIC = "https://feeds.example/feeds/tehran/fa.atom"
HUB_URL = "https://feeds.example/websub"
CALLBACK = "https://sub.example/cb?token=abc-token"
ATOM = "application/atom+xml; charset=utf-8"
DELAYS = (5, 30, 120)

# ---------------------------------------------------------------------- an in-memory database

_MISSING = object()


def _matches(doc: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, cond in flt.items():
        value = doc.get(key, _MISSING)
        if isinstance(cond, dict) and cond and all(op.startswith("$") for op in cond):
            for op, arg in cond.items():
                if value is _MISSING:
                    return False
                ok = {
                    "$lte": lambda v, a: v <= a,
                    "$lt": lambda v, a: v < a,
                    "$gt": lambda v, a: v > a,
                    "$gte": lambda v, a: v >= a,
                }[op](value, arg)
                if not ok:
                    return False
        elif value != cond:
            return False
    return True


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, key: str, direction: int = 1) -> FakeCursor:
        self.docs.sort(key=lambda d: d[key], reverse=direction < 0)
        return self

    def limit(self, n: int) -> FakeCursor:
        self.docs = self.docs[:n]
        return self

    def __aiter__(self) -> Any:
        async def gen() -> Any:
            for doc in self.docs:
                await asyncio.sleep(0)
                yield doc

        return gen()


class FakeCollection:
    """Inserts and deletes are atomic; updates read, yield to other tasks, then write back by
    ``_id``, the way FerretDB 1.24 runs them, so nothing here can lean on atomic updates."""

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}

    def _find(self, flt: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self.docs.values() if _matches(d, flt)]

    def find(self, flt: Mapping[str, Any], projection: Any = None) -> FakeCursor:
        return FakeCursor(self._find(flt))

    async def find_one(self, flt: Mapping[str, Any], projection: Any = None) -> Any:
        await asyncio.sleep(0)
        found = self._find(flt)
        return found[0] if found else None

    async def insert_one(self, doc: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def delete_one(self, flt: Mapping[str, Any]) -> Any:
        await asyncio.sleep(0)
        found = self._find(flt)
        if found:
            del self.docs[found[0]["_id"]]
        return type("Result", (), {"deleted_count": len(found[:1])})()

    async def replace_one(self, flt: Mapping[str, Any], doc: dict[str, Any], upsert: bool) -> None:
        found = self._find(flt)
        await asyncio.sleep(0)
        if found or upsert:
            self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def update_one(
        self, flt: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> None:
        found = self._find(flt)
        await asyncio.sleep(0)  # the window FerretDB leaves between reading and writing
        if found:
            doc = found[0]
            doc.update(copy.deepcopy(update.get("$set", {})))
            if doc["_id"] in self.docs:
                self.docs[doc["_id"]] = doc
        elif upsert:
            doc = {"_id": flt["_id"], **update.get("$setOnInsert", {}), **update.get("$set", {})}
            await self.insert_one(doc)


class FakeDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection())


# ---------------------------------------------------------------------- the world around a hub


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Subscribers:
    """Every subscriber callback on the internet, as one mock transport.

    ``verify[url]`` says how a callback answers verification (``"echo"``, ``"wrong"``, a status,
    or ``"down"``); ``answers[url]`` is the list of statuses it gives deliveries (the last one
    repeats; ``"down"`` for a network error). Defaults: echo, 204."""

    def __init__(self) -> None:
        self.verify: dict[str, Any] = {}
        self.answers: dict[str, list[Any]] = {}
        self.gets: list[httpx.Request] = []
        self.posts: list[httpx.Request] = []

    @staticmethod
    def base(request: httpx.Request) -> str:
        return str(request.url.copy_with(query=None))

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        key = self.base(request)
        if request.method == "GET":
            self.gets.append(request)
            how = self.verify.get(key, "echo")
            if how == "down":
                raise httpx.ConnectError("refused", request=request)
            challenge = request.url.params["hub.challenge"]
            if how == "echo":
                return httpx.Response(200, text=challenge)
            if how == "wrong":
                return httpx.Response(200, text=challenge + "x")
            return httpx.Response(how, text=challenge)
        self.posts.append(request)
        answers = self.answers.get(key, [204])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(answer)

    def delivered_to(self, url: str) -> list[httpx.Request]:
        return [r for r in self.posts if self.base(r) == url.split("?")[0]]


class World:
    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = Clock()
        self.subscribers = Subscribers()
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self.subscribers.handler))
        self.feeds: dict[str, tuple[bytes, str]] = {
            TOPIC: (b"<feed>v1</feed>", ATOM),
            OTHER_TOPIC: (b"<feed>fa</feed>", ATOM),
        }
        self.hub = self.replica()

    def replica(self, **options: Any) -> Hub:
        """A hub on the shared database, like one more feeds replica."""

        async def is_topic(topic: str) -> bool:
            return topic in self.feeds

        async def content(topic: str) -> tuple[bytes, str] | None:
            return self.feeds.get(topic)

        return Hub(
            self.db,  # type: ignore[arg-type]
            self.client,
            HUB_URL,
            is_topic,
            content,
            retry_delays=options.pop("retry_delays", DELAYS),
            clock=self.clock,
            **options,
        )

    @property
    def stored(self) -> dict[Any, dict[str, Any]]:
        return self.db[websub.SUBSCRIPTIONS.name].docs

    @property
    def retries(self) -> dict[Any, dict[str, Any]]:
        return self.db[websub.RETRIES.name].docs

    async def subscribe(self, callback: str = CALLBACK, topic: str = TOPIC, **fields: str) -> None:
        form = {
            "hub.mode": "subscribe",
            "hub.callback": callback,
            "hub.topic": topic,
            **{f"hub.{k}": v for k, v in fields.items()},
        }
        assert await self.hub.request(form) == (202, "accepted")
        await self.hub.drain()
        assert subscription_id(topic, callback) in self.stored


@pytest.fixture
def world() -> World:
    return World()


def form(**fields: str) -> dict[str, str]:
    return {f"hub.{k}": v for k, v in fields.items()}


# ---------------------------------------------------------------------- subscribing


async def test_subscription_is_stored_once_the_callback_echoes_the_challenge(world: World) -> None:
    status = await world.hub.request(form(mode="subscribe", callback=CALLBACK, topic=TOPIC))
    assert status == (202, "accepted")
    assert world.stored == {}  # nothing before verification of intent
    await world.hub.drain()

    (get,) = world.subscribers.gets
    params = dict(parse_qsl(urlsplit(str(get.url)).query))
    assert params["token"] == "abc-token"  # the callback's own query is kept
    assert params["hub.mode"] == "subscribe"
    assert params["hub.topic"] == TOPIC
    assert params["hub.lease_seconds"] == str(86400 * 5)
    assert len(params["hub.challenge"]) >= 32
    (doc,) = world.stored.values()
    assert doc["callback"] == CALLBACK and doc["topic"] == TOPIC
    assert doc["expires"] == world.clock.now + timedelta(days=5)
    assert "secret" not in doc


@pytest.mark.parametrize("answer", ["wrong", 404, 500, "down"])
async def test_failed_verification_stores_nothing(world: World, answer: Any) -> None:
    world.subscribers.verify["https://sub.example/cb"] = answer
    status, _ = await world.hub.request(form(mode="subscribe", callback=CALLBACK, topic=TOPIC))
    assert status == 202
    await world.hub.drain()
    assert len(world.subscribers.gets) == 1
    assert world.stored == {}


async def test_challenges_are_random(world: World) -> None:
    await world.subscribe()
    await world.subscribe()
    first, second = (r.url.params["hub.challenge"] for r in world.subscribers.gets)
    assert first != second
    assert len(world.stored) == 1  # a renewal replaces the subscription


async def test_unsubscribe_removes_after_verification_and_only_then(world: World) -> None:
    await world.subscribe()
    world.subscribers.verify["https://sub.example/cb"] = "wrong"
    unsubscribe = form(mode="unsubscribe", callback=CALLBACK, topic=TOPIC)
    assert await world.hub.request(unsubscribe) == (202, "accepted")
    await world.hub.drain()
    assert len(world.stored) == 1  # a failed unsubscribe verification keeps the subscription

    world.subscribers.verify["https://sub.example/cb"] = "echo"
    assert await world.hub.request(unsubscribe) == (202, "accepted")
    await world.hub.drain()
    assert world.stored == {}
    params = world.subscribers.gets[-1].url.params
    assert params["hub.mode"] == "unsubscribe" and "hub.lease_seconds" not in params


async def test_unsubscribe_from_a_feed_that_went_away(world: World) -> None:
    await world.subscribe()
    del world.feeds[TOPIC]
    status, _ = await world.hub.request(form(mode="unsubscribe", callback=CALLBACK, topic=TOPIC))
    assert status == 202
    await world.hub.drain()
    assert world.stored == {}
    status, reason = await world.hub.request(
        form(mode="unsubscribe", callback="https://never.example/", topic=TOPIC)
    )
    assert status == 404 and "unknown topic" in reason


@pytest.mark.parametrize(
    ("asked", "granted"),
    [("10", 300), ("-5", 300), ("3600", 3600), (str(10**9), 86400 * 30), (" ", 86400 * 5)],
)
async def test_leases_are_clamped(world: World, asked: str, granted: int) -> None:
    await world.subscribe(lease_seconds=asked) if asked.strip() else await world.subscribe()
    assert world.subscribers.gets[-1].url.params["hub.lease_seconds"] == str(granted)
    (doc,) = world.stored.values()
    assert doc["lease_seconds"] == granted
    assert doc["expires"] == world.clock.now + timedelta(seconds=granted)


async def test_expired_leases_are_skipped_and_removed(world: World) -> None:
    await world.subscribe(lease_seconds="600")
    await world.subscribe(callback="https://long.example/cb", lease_seconds="3600")
    world.clock.advance(600)
    assert await world.hub.publish(TOPIC) == 1
    assert [world.subscribers.base(r) for r in world.subscribers.posts] == [
        "https://long.example/cb"
    ]
    assert [d["callback"] for d in world.stored.values()] == ["https://long.example/cb"]


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"topic": TOPIC}, 400, "hub.mode is required"),
        ({"mode": "subcribe", "callback": CALLBACK, "topic": TOPIC}, 400, "unknown hub.mode"),
        ({"mode": "subscribe", "topic": TOPIC}, 400, "hub.callback is required"),
        (
            {"mode": "subscribe", "callback": "ftp://sub.example/cb", "topic": TOPIC},
            400,
            "hub.callback must be an absolute http or https URL",
        ),
        (
            {"mode": "subscribe", "callback": "/cb", "topic": TOPIC},
            400,
            "hub.callback must be an absolute http or https URL",
        ),
        (
            {"mode": "subscribe", "callback": "https://sub.example:99999/", "topic": TOPIC},
            400,
            "hub.callback is not a valid URL",
        ),
        (
            {"mode": "subscribe", "callback": "https://sub.example/#x", "topic": TOPIC},
            400,
            "fragment",
        ),
        ({"mode": "subscribe", "callback": CALLBACK}, 400, "hub.topic is required"),
        (
            {"mode": "subscribe", "callback": CALLBACK, "topic": TOPIC, "lease_seconds": "1d"},
            400,
            "hub.lease_seconds must be a whole number",
        ),
        (
            {"mode": "subscribe", "callback": CALLBACK, "topic": TOPIC, "secret": "s" * 200},
            400,
            "hub.secret must be shorter than 200 bytes",
        ),
        (
            {"mode": "subscribe", "callback": CALLBACK, "topic": TOPIC, "secret": "ش" * 100},
            400,
            "hub.secret must be shorter than 200 bytes",
        ),
        (
            {"mode": "subscribe", "callback": CALLBACK, "topic": "https://feeds.example/x"},
            404,
            "unknown topic",
        ),
        ({"mode": "publish"}, 400, "hub.mode=publish needs hub.url"),
        ({"mode": "publish", "url": "https://elsewhere.example/"}, 404, "unknown topic"),
    ],
)
async def test_invalid_requests_say_why(
    world: World, fields: dict[str, str], status: int, reason: str
) -> None:
    got, message = await world.hub.request(form(**fields))
    assert got == status
    assert reason in message
    await world.hub.drain()
    assert world.subscribers.gets == [] and world.stored == {}


async def test_a_199_byte_secret_is_accepted(world: World) -> None:
    await world.subscribe(secret="s" * 199)
    (doc,) = world.stored.values()
    assert doc["secret"] == "s" * 199


# ---------------------------------------------------------------------- content distribution


async def test_publish_delivers_signed_content_with_hub_and_self_links(world: World) -> None:
    await world.subscribe(secret="sesame")
    await world.subscribe(callback="https://plain.example/cb")
    await world.subscribe(callback="https://fa.example/cb", topic=OTHER_TOPIC)

    assert await world.hub.publish(TOPIC) == 2

    (signed,) = world.subscribers.delivered_to(CALLBACK)
    assert signed.url == CALLBACK
    assert signed.content == b"<feed>v1</feed>"
    assert signed.headers["content-type"] == ATOM
    assert signed.headers["link"] == f'<{HUB_URL}>; rel="hub", <{TOPIC}>; rel="self"'
    expected = hmac.new(b"sesame", b"<feed>v1</feed>", hashlib.sha256).hexdigest()
    assert signed.headers["x-hub-signature"] == f"sha256={expected}"
    (plain,) = world.subscribers.delivered_to("https://plain.example/cb")
    assert plain.content == b"<feed>v1</feed>"
    assert "x-hub-signature" not in plain.headers
    assert world.subscribers.delivered_to("https://fa.example/cb") == []
    assert world.retries == {}


async def test_publish_without_content_or_subscribers(world: World) -> None:
    assert await world.hub.publish(TOPIC) == 0
    await world.subscribe()
    del world.feeds[TOPIC]
    assert await world.hub.publish(TOPIC) == 0
    assert world.subscribers.posts == []


async def test_deliveries_run_concurrently_but_bounded(world: World) -> None:
    running = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["hub.challenge"])
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return httpx.Response(204)

    world.client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    world.hub = world.replica(concurrency=3)
    for i in range(8):
        await world.subscribe(callback=f"https://s{i}.example/cb")
    assert await world.hub.publish(TOPIC) == 8
    assert peak == 3


async def test_410_gone_removes_the_subscription(world: World) -> None:
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [410]
    assert await world.hub.publish(TOPIC) == 1
    assert world.stored == {} and world.retries == {}


# ---------------------------------------------------------------------- retries


async def test_a_failed_delivery_is_retried_later_with_current_content(world: World) -> None:
    await world.subscribe(secret="sesame")
    world.subscribers.answers["https://sub.example/cb"] = [503, 204]
    assert await world.hub.publish(TOPIC) == 1
    (retry,) = world.retries.values()
    assert retry["failures"] == 1 and retry["last_error"] == "503"
    assert retry["due"] == world.clock.now + timedelta(seconds=5)

    world.clock.advance(4)
    assert await world.hub.run_due_retries() == 0  # not due yet
    world.feeds[TOPIC] = (b"<feed>v2</feed>", ATOM)
    world.clock.advance(1)
    assert await world.hub.run_due_retries() == 1

    late = world.subscribers.posts[-1]
    assert late.content == b"<feed>v2</feed>"  # what the feed is now, not what failed
    expected = hmac.new(b"sesame", b"<feed>v2</feed>", hashlib.sha256).hexdigest()
    assert late.headers["x-hub-signature"] == f"sha256={expected}"
    assert world.retries == {}
    assert world.db[websub.CLAIMS.name].docs == {}
    assert await world.hub.run_due_retries() == 0


async def test_the_schedule_is_followed_then_given_up(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = ["down"]
    await world.hub.publish(TOPIC)
    for delay in DELAYS:
        assert [d["due"] for d in world.retries.values()] == [
            world.clock.now + timedelta(seconds=delay)
        ]
        world.clock.advance(delay - 1)
        assert await world.hub.run_due_retries() == 0
        world.clock.advance(1)
        with caplog.at_level(logging.WARNING, logger=websub.__name__):
            assert await world.hub.run_due_retries() == 1
    assert len(world.subscribers.posts) == 1 + len(DELAYS)
    assert world.retries == {}
    assert len(world.stored) == 1  # giving up on a delivery is not unsubscribing
    (gave_up,) = [r for r in caplog.records if r.getMessage() == "delivery given up"]
    assert gave_up.failures == 1 + len(DELAYS)  # type: ignore[attr-defined]
    world.clock.advance(10**6)
    assert await world.hub.run_due_retries() == 0


async def test_no_retry_schedule_means_no_retries(world: World) -> None:
    world.hub = world.replica(retry_delays=())
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [500]
    assert await world.hub.publish(TOPIC) == 1
    assert world.retries == {}


async def test_a_later_publish_delivers_and_clears_the_retry(world: World) -> None:
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [500, 500, 204]
    await world.hub.publish(TOPIC)
    assert await world.hub.publish(TOPIC) == 0  # the same bytes: left to the retry schedule
    world.feeds[TOPIC] = (b"<feed>v2</feed>", ATOM)
    await world.hub.publish(TOPIC)  # fails again: the first schedule stands
    (retry,) = world.retries.values()
    assert retry["due"] == world.clock.now + timedelta(seconds=DELAYS[0])
    world.feeds[TOPIC] = (b"<feed>v3</feed>", ATOM)
    await world.hub.publish(TOPIC)
    assert world.retries == {}


async def test_retry_to_a_subscriber_that_left_is_dropped(world: World) -> None:
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [500, 410]
    await world.hub.publish(TOPIC)
    world.clock.advance(5)
    assert await world.hub.run_due_retries() == 1
    assert world.stored == {} and world.retries == {}


async def test_two_replicas_deliver_a_retry_once(world: World) -> None:
    await world.subscribe()
    await world.subscribe(callback="https://other.example/cb")
    world.subscribers.answers["https://sub.example/cb"] = [500, 204]
    world.subscribers.answers["https://other.example/cb"] = [500, 204]
    await world.hub.publish(TOPIC)
    world.clock.advance(5)
    before = len(world.subscribers.posts)

    second = world.replica()
    done = await asyncio.gather(*(h.run_due_retries() for h in (world.hub, second, world.hub)))

    assert sum(done) == 2
    assert len(world.subscribers.posts) - before == 2
    assert len(world.subscribers.delivered_to(CALLBACK)) == 2  # the failure and one retry
    assert world.retries == {}
    assert world.db[websub.CLAIMS.name].docs == {}


async def test_a_dead_replicas_claim_is_taken_over_when_it_expires(world: World) -> None:
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [500, 204]
    await world.hub.publish(TOPIC)
    (retry,) = world.retries.values()
    claims = world.db[websub.CLAIMS.name]
    world.clock.advance(5)
    # a replica claimed it and died before delivering
    await claims.insert_one(
        {
            "_id": f"{retry['gen']}:0",
            "retry": retry["_id"],
            "gen": retry["gen"],
            "expires": world.clock.now + timedelta(seconds=300),
        }
    )
    assert await world.hub.run_due_retries() == 0
    world.clock.advance(300)
    assert await world.hub.run_due_retries() == 1
    assert world.subscribers.posts[-1].content == b"<feed>v1</feed>"
    assert world.retries == {} and claims.docs == {}


async def test_stale_claims_are_swept(world: World) -> None:
    claims = world.db[websub.CLAIMS.name]
    await claims.insert_one(
        {"_id": "old:0", "retry": "gone", "gen": "old", "expires": world.clock.now}
    )
    world.clock.advance(1)
    await world.hub.run_due_retries()
    assert claims.docs == {}


async def test_claims_must_outlive_deliveries(world: World) -> None:
    with pytest.raises(ValueError, match="claim_seconds"):
        world.replica(delivery_timeout=60, claim_seconds=100)


# ---------------------------------------------------------------------- the HTTP endpoint


@pytest.fixture
def endpoint(world: World) -> httpx.AsyncClient:
    api = FastAPI()
    websub.install(api, world.hub)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="https://hub")


async def test_endpoint_subscribe(world: World, endpoint: httpx.AsyncClient) -> None:
    response = await endpoint.post(
        "/websub",
        data={"hub.mode": "subscribe", "hub.callback": CALLBACK, "hub.topic": TOPIC},
    )
    assert response.status_code == 202
    assert response.text == "accepted"
    await world.hub.drain()
    assert len(world.stored) == 1


async def test_endpoint_says_why_it_refuses(world: World, endpoint: httpx.AsyncClient) -> None:
    response = await endpoint.post("/websub", data={"hub.mode": "subscribe", "hub.topic": TOPIC})
    assert response.status_code == 400
    assert "hub.callback is required" in response.text
    response = await endpoint.post("/websub", json={"hub.mode": "subscribe"})
    assert response.status_code == 415
    response = await endpoint.post(
        "/websub",
        content=b"hub.mode=subscribe&x=" + b"a" * 20_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    response = await endpoint.post(
        "/websub",
        content=b"hub.mode=\xff",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


async def test_endpoint_publish_ping(world: World, endpoint: httpx.AsyncClient) -> None:
    await world.subscribe()
    response = await endpoint.post("/websub", data={"hub.mode": "publish", "hub.url": TOPIC})
    assert response.status_code == 202
    await world.hub.drain()
    (delivery,) = world.subscribers.posts
    assert delivery.content == b"<feed>v1</feed>"


async def test_pings_for_one_topic_coalesce(world: World) -> None:
    await world.subscribe()
    gate, started, reads = asyncio.Event(), asyncio.Event(), 0
    content = world.hub.content

    async def slow_content(topic: str) -> tuple[bytes, str] | None:
        nonlocal reads
        reads += 1
        started.set()
        await gate.wait()
        world.feeds[TOPIC] = (f"<feed>v{reads}</feed>".encode(), ATOM)  # changed each time
        return await content(topic)

    world.hub.content = slow_content
    for _ in range(3):  # before the publish starts: all served by it
        assert await world.hub.request(form(mode="publish", topic=TOPIC)) == (202, "accepted")
    await started.wait()
    for _ in range(3):  # while it runs: one more publish afterwards
        assert await world.hub.request(form(mode="publish", url=TOPIC)) == (202, "accepted")
    gate.set()
    await world.hub.drain()
    # the second run found the first delivery still in flight: that delivery, once done, sent
    # the feed as it was then (a third read), instead of a second delivery racing the first
    assert reads == 3
    assert [p.content for p in world.subscribers.posts] == [b"<feed>v1</feed>", b"<feed>v3</feed>"]


async def test_pings_can_be_refused(world: World) -> None:
    world.hub = world.replica(publish_pings=False)
    status, reason = await world.hub.request(form(mode="publish", url=TOPIC))
    assert status == 400 and "does not accept" in reason


async def test_secrets_and_callback_queries_stay_out_of_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=websub.__name__):
        await world.subscribe(secret="sesame-secret")
        world.subscribers.answers["https://sub.example/cb"] = [500, 410]
        await world.hub.publish(TOPIC)
        world.clock.advance(5)
        await world.hub.run_due_retries()
    assert caplog.records
    for record in caplog.records:
        text = str(record.__dict__)
        assert "sesame-secret" not in text and "abc-token" not in text


# ---------------------------------------------------------------------- private feeds


async def test_a_credential_is_stored_and_judged_before_every_delivery(world: World) -> None:
    valid = {"token-a"}

    async def authorised(sub: dict[str, Any]) -> bool:
        return sub.get("credential") in valid

    world.hub = world.replica(authorised=authorised)
    await world.subscribe(**{"x-credential": "token-a"})
    await world.subscribe(callback="https://other.example/cb", **{"x-credential": "token-b"})
    assert {d["credential"] for d in world.stored.values()} == {"token-a", "token-b"}

    assert await world.hub.publish(TOPIC) == 1  # token-b was never valid: removed, not sent to
    assert world.subscribers.delivered_to("https://other.example/cb") == []
    assert len(world.subscribers.delivered_to(CALLBACK)) == 1
    assert len(world.stored) == 1

    world.subscribers.answers["https://sub.example/cb"] = [503]  # a retry is due ...
    world.feeds[TOPIC] = (b"<feed>v2</feed>", ATOM)
    assert await world.hub.publish(TOPIC) == 1
    assert len(world.retries) == 1
    valid.clear()  # ... when the token is revoked
    world.clock.advance(5)
    assert await world.hub.run_due_retries() == 0
    assert world.stored == {} and world.retries == {}
    assert len(world.subscribers.delivered_to(CALLBACK)) == 2  # nothing after the revocation


async def test_only_prepare_gives_a_subscription_its_credential(world: World) -> None:
    async def prepare(form: dict[str, str]) -> tuple[int, str] | None:
        if form.get("hub.callback", "").startswith("https://partner.example/"):
            form[websub.CREDENTIAL] = "granted"
        return None

    api = FastAPI()
    websub.install(api, world.hub, prepare=prepare)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="https://hub"
    ) as endpoint:
        for callback in (CALLBACK, "https://partner.example/cb"):
            fields = {"hub.mode": "subscribe", "hub.callback": callback, "hub.topic": TOPIC}
            resp = await endpoint.post("/websub", data={**fields, websub.CREDENTIAL: "forged"})
            assert resp.status_code == 202, resp.text
    await world.hub.drain()
    found = {d["callback"]: d.get("credential") for d in world.stored.values()}
    assert found == {CALLBACK: None, "https://partner.example/cb": "granted"}


# ---------------------------------------------------------------------- an external hub


def recording(status: int | Callable[[httpx.Request], httpx.Response]) -> Any:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if callable(status):
            return status(request)
        return httpx.Response(status)

    return seen, httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_external_hub_ping() -> None:
    seen, client = recording(204)
    hub = ExternalHub(client, "https://hub.example/")
    assert await hub.publish(TOPIC) == 1
    (ping,) = seen
    assert ping.method == "POST" and str(ping.url) == "https://hub.example/"
    assert ping.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(ping.content.decode())) == {"hub.mode": "publish", "hub.url": TOPIC}


async def test_external_hub_failures_are_logged_not_raised() -> None:
    _, client = recording(500)
    assert await ExternalHub(client, "https://hub.example/").publish(TOPIC) == 0

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    _, client = recording(down)
    assert await ExternalHub(client, "https://hub.example/").publish(TOPIC) == 0


# ---------------------------------------------------------------------- issue 18: SSRF, DoS


@pytest.mark.parametrize(
    "callback",
    [
        "http://127.0.0.1:8080/cb",
        "http://2130706433/cb",
        "http://0x7f000001/cb",
        "http://0177.0.0.1/cb",
        "http://127.1/cb",
        "http://localhost:9092/",
        "http://[::1]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://10.0.0.8/cb",
        "http://192.168.0.1/cb",
        "http://172.16.5.4/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/cb",
        "http://[fd00::1]/cb",
        "http://0.0.0.0:8000/cb",
        "https://user:pw@sub.example/cb",
    ],
)
async def test_callbacks_into_our_network_are_refused_at_the_door(
    world: World, callback: str
) -> None:
    status, reason = await world.hub.request(form(mode="subscribe", callback=callback, topic=TOPIC))
    assert status == 400 and reason.startswith("hub.callback "), reason
    await world.hub.drain()
    assert world.subscribers.gets == [] and world.stored == {}


async def test_the_allow_list_admits_listed_networks(world: World) -> None:
    from shared import netguard

    world.hub = world.replica(policy=netguard.Policy(netguard.parse_networks("127.0.0.0/8")))
    await world.subscribe(callback="http://127.0.0.1:9/cb")
    status, _ = await world.hub.request(
        form(mode="subscribe", callback="http://10.0.0.1/cb", topic=TOPIC)
    )
    assert status == 400


class Hanging:
    """Callbacks on hosts named ``hang*`` accept the request and never answer (until
    ``release``); every other host answers at once and is recorded, with an event per host."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting: list[str] = []
        self.answered: dict[str, list[httpx.Request]] = {}
        self.arrived: dict[str, asyncio.Event] = {}

    def event(self, host: str) -> asyncio.Event:
        return self.arrived.setdefault(host, asyncio.Event())

    async def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host.startswith("hang"):
            self.waiting.append(host)
            await self.gate.wait()
        self.answered.setdefault(host, []).append(request)
        self.event(host).set()
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["hub.challenge"])
        return httpx.Response(204)

    async def partner(self, host: str, method: str, count: int = 1) -> None:
        """Until ``host`` has had ``count`` requests of ``method`` (fails after 10 s)."""
        async with asyncio.timeout(10):
            while sum(r.method == method for r in self.answered.get(host, [])) < count:
                self.event(host).clear()
                await self.event(host).wait()


@pytest.fixture
def hanging(world: World) -> Any:
    hang = Hanging()
    world.client = httpx.AsyncClient(transport=httpx.MockTransport(hang.handler))
    world.hub = world.replica()
    yield hang
    hang.gate.set()


async def test_pending_verifications_are_bounded_per_host_and_in_total(
    world: World, hanging: Hanging
) -> None:
    world.hub = world.replica(pending_per_host=2, pending_max=3)
    sub = form(mode="subscribe", topic=TOPIC)
    for path in ("a", "b"):
        assert await world.hub.request({**sub, "hub.callback": f"https://hang1.example/{path}"})
    status, reason = await world.hub.request({**sub, "hub.callback": "https://hang1.example/c"})
    assert status == 429 and "already pending" in reason
    ok = await world.hub.request({**sub, "hub.callback": "https://hang2.example/a"})
    assert ok == (202, "accepted")
    status, reason = await world.hub.request({**sub, "hub.callback": "https://hang3.example/a"})
    assert status == 503 and "too many verifications pending" in reason
    hanging.gate.set()
    await world.hub.drain()
    # once answered, the slots are free again
    ok = await world.hub.request({**sub, "hub.callback": "https://hang1.example/c"})
    assert ok == (202, "accepted")
    await world.hub.drain()


async def test_hanging_verifications_do_not_delay_a_partners(
    world: World, hanging: Hanging
) -> None:
    for i in range(40):
        status, _ = await world.hub.request(
            form(mode="subscribe", callback=f"https://hang{i}.example/cb", topic=TOPIC)
        )
        assert status == 202
    await world.hub.request(
        form(mode="subscribe", callback="https://partner.example/cb", topic=TOPIC)
    )
    await hanging.partner("partner.example", "GET")
    assert not hanging.gate.is_set()  # every hanging verification is still hanging


async def subscribe_all(world: World, callbacks: list[str]) -> None:
    """Subscriptions as stored after verification (the hanging hosts would never verify)."""
    now = world.clock.now
    for callback in callbacks:
        sid = subscription_id(TOPIC, callback)
        world.stored[sid] = {
            "_id": sid,
            "topic": TOPIC,
            "callback": callback,
            "lease_seconds": 3600,
            "expires": now + timedelta(hours=1),
            "verified": now,
        }


async def test_hanging_subscribers_do_not_delay_a_partners_deliveries(
    world: World, hanging: Hanging
) -> None:
    """Dozens of hosts that never answer, and one host with a hundred callbacks that never
    answer, subscribed before the partner: the partner gets the update, and the next one too,
    while all of them still hang."""
    hangers = [f"https://hang{i}.example/cb" for i in range(40)]
    hangers += [f"https://hang-many.example/cb/{i}" for i in range(100)]
    await subscribe_all(world, [*hangers, "https://partner.example/cb"])
    await world.hub.notify(TOPIC)  # returns at once: nothing waits for the subscribers
    await hanging.partner("partner.example", "POST")
    world.feeds[TOPIC] = (b"<feed>v2</feed>", ATOM)
    await world.hub.notify(TOPIC)
    await hanging.partner("partner.example", "POST", count=2)
    assert hanging.answered["partner.example"][-1].content == b"<feed>v2</feed>"
    assert not hanging.gate.is_set()
    assert hanging.waiting.count("hang-many.example") == 2  # its own per-host limit


async def test_a_host_that_times_out_is_backed_off(world: World) -> None:
    attempts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.host)
        if request.url.host == "slow.example":
            raise httpx.ReadTimeout("no answer", request=request)
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["hub.challenge"])
        return httpx.Response(204)

    world.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    world.hub = world.replica(host_backoff=(60, 600))
    await subscribe_all(world, ["https://slow.example/a", "https://slow.example/b"])
    assert await world.hub.publish(TOPIC) == 2
    assert attempts == ["slow.example"]  # the second waited for the host, then saw the back-off
    due = {d["last_error"]: d["due"] for d in world.retries.values()}
    assert due == {
        "ReadTimeout": world.clock.now + timedelta(seconds=60),
        "HostBackedOff": world.clock.now + timedelta(seconds=60),
    }
    status, reason = await world.hub.request(
        form(mode="subscribe", callback="https://slow.example/c", topic=TOPIC)
    )
    assert status == 429 and "timed out recently" in reason
    world.clock.advance(5)  # the first retry delay, but the host is still backed off
    assert await world.hub.run_due_retries() == 0
    assert attempts == ["slow.example"]
    world.clock.advance(55)
    assert await world.hub.run_due_retries() == 1  # the other found the host backed off again
    assert attempts == ["slow.example"] * 2  # one more timeout: backed off for 600 s now
    assert all(d["due"] >= world.clock.now + timedelta(seconds=600) for d in world.retries.values())


async def test_publish_pings_on_an_unchanged_feed_deliver_nothing(world: World) -> None:
    await world.subscribe()
    await world.subscribe(callback="https://other.example/cb")
    await world.subscribe(callback="https://failing.example/cb")  # left to its retries
    world.subscribers.answers["https://failing.example/cb"] = [500]
    assert await world.hub.publish(TOPIC) == 3
    for _ in range(50):
        assert await world.hub.request(form(mode="publish", url=TOPIC)) == (202, "accepted")
        await world.hub.drain()
    assert len(world.subscribers.posts) == 3
    world.feeds[TOPIC] = (b"<feed>v2</feed>", ATOM)
    await world.hub.request(form(mode="publish", url=TOPIC))
    await world.hub.drain()
    assert [p.content for p in world.subscribers.posts[3:]] == [b"<feed>v2</feed>"] * 3
    # a renewal starts afresh: the renewed subscription gets the next publish
    await world.subscribe()
    assert await world.hub.publish(TOPIC) == 1


async def test_verification_delivery_and_retry_are_vetted_at_connect_time(world: World) -> None:
    """A callback name that resolves to a public address when the request is screened and to
    127.0.0.1 whenever the hub connects (DNS rebinding): the verification, the delivery and its
    retry are all refused, and a listener on that port never sees a connection."""
    import ipaddress

    from shared import netguard

    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    answers = iter([ipaddress.ip_address("93.184.215.14")])  # then loopback, forever

    async def rebinding(host: str, port: int) -> list[netguard.IPAddress]:
        return [next(answers, ipaddress.ip_address("127.0.0.1"))]

    world.client = netguard.guarded_client(
        netguard.Policy(), httpx.Timeout(5.0), resolver=rebinding
    )
    world.hub = world.replica(resolver=rebinding)
    callback = f"http://rebind.example:{port}/cb"
    try:
        assert await world.hub.request(form(mode="subscribe", callback=callback, topic=TOPIC)) == (
            202,
            "accepted",
        )  # the screen saw the public address
        await world.hub.drain()
        assert world.stored == {}  # the verification was refused at connect time
        await subscribe_all(world, [callback])  # as if it had been verified before
        assert await world.hub.publish(TOPIC) == 1
        (retry,) = world.retries.values()
        assert retry["last_error"] == "BlockedAddress"
        world.clock.advance(DELAYS[0])
        assert await world.hub.run_due_retries() == 1
        (retry,) = world.retries.values()
        assert retry["last_error"] == "BlockedAddress" and retry["failures"] == 2
        assert connections == 0
    finally:
        server.close()
        await world.client.aclose()


async def test_deliveries_are_counted_by_result_for_the_alert(world: World) -> None:
    registry = CollectorRegistry()
    world.hub = world.replica(deliveries=metrics.websub_deliveries(registry))
    await world.subscribe()
    world.subscribers.answers["https://sub.example/cb"] = [503, 204]
    await world.hub.publish(TOPIC)
    world.clock.advance(5)
    await world.hub.run_due_retries()

    def count(result: str) -> float | None:
        return registry.get_sample_value("syndication_websub_deliveries_total", {"result": result})

    assert (count("failed"), count("delivered"), count("gone")) == (1.0, 1.0, 0.0)
