"""The whole system for integration tests: the three services as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from deploy.local import stack
from shared.contracts import Topics
from tests.conftest import Infra

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NO_REFUSALS = "100000/second"


@dataclass
class System:
    infra: Infra
    state: Path
    env: dict[str, str]
    ports: dict[str, int]
    processes: dict[str, stack.Process] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    partner_tokens: dict[str, str] = field(default_factory=dict)
    admin_token: str = ""  # the feeds admin API's, given to it as FEEDS_ADMIN_TOKEN_FILE

    def auth(self, publisher: str) -> dict[str, str]:
        """Headers of an editor of this publisher."""
        return {"Authorization": f"Bearer {self.keys[publisher]}"}

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def start(self, name: str) -> None:
        proc = stack.service_process(name, self.state, self.env)
        self.processes[name] = proc
        proc.start()
        stack.wait_until(lambda: ready(self.url(name, "/readyz")), f"{name} service", 60, proc)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.processes[name].stop(timeout=30, sig=sig)

    def logs(self, name: str) -> str:
        path = self.processes[name].logfile
        return path.read_text(errors="replace") if path.exists() else ""


async def registry_cli(system: System, *args: str) -> str:
    """``python -m tools.registry ARGS`` against the system's database; its output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.registry", *args,
        env={**os.environ, **system.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


def ready(url: str) -> bool:
    """Whether a service's URL answers 200 (for stack.wait_until)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def system(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with started_system(infra, tmp_path_factory.mktemp("services")) as running:
        yield running


@contextmanager
def started_system(infra: Infra, state: Path, **env: str) -> Iterator[System]:
    """The three services as processes on ``infra``, with the fixture registry, an editor key
    per publisher and a token per partner; ``env`` adds or overrides settings."""
    ports = {name: stack.free_port() for name in stack.SERVICES}
    env = {
        **infra.env(),
        "INGEST_HTTP_PORT": str(ports["ingest"]),
        "INGEST_FEEDS_URL": f"http://127.0.0.1:{ports['feeds']}",  # the desk's translations
        "TRANSLATE_HTTP_PORT": str(ports["translate"]),
        "TRANSLATE_ENGINE": "pseudo",
        "FEEDS_HTTP_PORT": str(ports["feeds"]),
        "FEEDS_PUBLIC_URL": f"http://127.0.0.1:{ports['feeds']}",
        "FEEDS_ENTRIES_PER_FEED": "10",  # small archive pages, so tests reach the archives
        "LOG_LEVEL": "INFO",
        # The limiter runs on every request but refuses none (test_ratelimit.py has its own).
        "INGEST_RATE_LIMIT": NO_REFUSALS,
        "TRANSLATE_RATE_LIMIT": NO_REFUSALS,
        "FEEDS_RATE_LIMIT": NO_REFUSALS,
        # The tests' WebSub subscribers listen on 127.0.0.1; the default allows no such
        # callback (test_websub_guard.py starts a replica with the default).
        "FEEDS_WEBSUB_ALLOW_NETWORKS": "127.0.0.1/32",
        # The same for the fediverse followers' servers (tests/support/fediverse.py).
        "FEEDS_ACTIVITYPUB_ALLOW_NETWORKS": "127.0.0.1/32",
        **env,
    }
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(FIXTURES / "registry.yaml")],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    sys_ = System(infra, state, env, ports)
    for publisher in ("mashhad", "tehran", "gorgan"):
        keyfile = state / "keys" / f"{publisher}.key"
        subprocess.run(
            [sys.executable, "-m", "tools.registry", "keys", "create", publisher,
             "--name", "test-editor", "--out", str(keyfile)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )  # fmt: skip
        sys_.keys[publisher] = keyfile.read_text().strip()
    for partner in ("kazan", "istanbul"):
        tokenfile = state / "keys" / f"partner-{partner}.token"
        subprocess.run(
            [sys.executable, "-m", "tools.registry", "partner-token", "create", partner,
             "--out", str(tokenfile)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )  # fmt: skip
        sys_.partner_tokens[partner] = tokenfile.read_text().strip()
    if "FEEDS_ADMIN_TOKEN" not in env:
        sys_.admin_token = secrets.token_urlsafe(32)
        admin_file = state / "keys" / "admin.token"
        admin_file.write_text(sys_.admin_token + "\n")
        env.setdefault("FEEDS_ADMIN_TOKEN_FILE", str(admin_file))
    try:
        for name in stack.SERVICES:
            sys_.start(name)
        yield sys_
    finally:
        for name, proc in sys_.processes.items():
            if not proc.stop(timeout=30, sig=signal.SIGTERM):
                continue
            print(
                f"\n--- {name} log (tail) ---\n" + "\n".join(sys_.logs(name).splitlines()[-15:]),
                file=sys.stderr,
            )


@pytest.fixture(scope="session")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """A plain Kafka client, as an editor's CMS would use: raw bytes, no FastStream headers."""
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all", max_request_size=10_485_760)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def send(producer: AIOKafkaProducer, topic: str, value: Any, key: str | None = None) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
    await producer.send_and_wait(topic, raw, key=key.encode() if key else None)


async def await_feed(
    http: httpx.AsyncClient, url: str, done: Callable[[Any], bool], timeout: float = 60
) -> Any:
    """Wait for the feed to satisfy ``done``: conditional GETs until its content changes enough."""
    import feedparser

    etag = None
    parsed = None
    async with asyncio.timeout(timeout):
        while True:
            headers = {"If-None-Match": etag} if etag else {}
            resp = await http.get(url, headers=headers)
            if resp.status_code == 200:
                etag = resp.headers.get("etag")
                parsed = feedparser.parse(resp.content)
                if done(parsed):
                    return parsed
            elif resp.status_code != 304:
                resp.raise_for_status()
            await asyncio.sleep(0.1)  # poll interval while waiting for the event, not a fixed wait


async def feed_history(http: httpx.AsyncClient, url: str) -> tuple[dict[str, Any], int]:
    """Every entry a subscriber can reach from ``url`` (RFC 5005: the subscription document,
    then each ``prev-archive``), by entry id, the newest state of each; and the archive pages
    read. This is how a new partner backfills. Archive links are followed on ``url``'s server
    (they name the public URL, which replicas of feeds started later do not listen on)."""
    from urllib.parse import urlsplit

    import feedparser

    entries: dict[str, Any] = {}
    pages = 0
    link: str | None = url
    server = urlsplit(url)
    while link:
        resp = await http.get(urlsplit(link)._replace(netloc=server.netloc).geturl())
        resp.raise_for_status()
        doc = feedparser.parse(resp.content)
        for entry in doc.entries:
            entries.setdefault(entry.id, entry)  # newer documents first
        pages += link != url
        link = next((x.href for x in doc.feed.get("links", []) if x.rel == "prev-archive"), None)
    return entries, pages


async def await_history(
    http: httpx.AsyncClient, url: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> tuple[dict[str, Any], int]:
    """Wait until the feed's whole history (current document and archives) satisfies ``done``."""
    async with asyncio.timeout(timeout):
        while True:
            entries, pages = await feed_history(http, url)
            if done(list(entries.values())):
                return entries, pages
            await asyncio.sleep(0.2)  # poll interval while waiting for the event


async def read_topic(
    bootstrap: str, topic: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Read a topic from the start until ``done`` holds for the decoded records seen so far."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(seen):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    seen.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()
    return seen


async def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record on ``topic`` up to its end at the time of the call, decoded."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # no public API for this
        partitions = [
            TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(60):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batch = await consumer.getmany(*partitions, timeout_ms=500)
                for tp, records in batch.items():
                    seen.extend(json.loads(r.value) for r in records if r.offset < ends[tp])
        return seen
    finally:
        await consumer.stop()


async def await_article(
    system: System, http: httpx.AsyncClient, publisher: str, ident: str, done: Any
) -> Any:
    """Poll GET /articles/{id} until ``done`` holds (the status consumer runs beside the feeds)."""
    async with asyncio.timeout(30):
        while True:
            resp = await http.get(
                system.url("ingest", f"/articles/{ident}"), headers=system.auth(publisher)
            )
            if resp.status_code == 200 and done(resp.json()):
                return resp.json()
            await asyncio.sleep(0.1)


async def holders(
    bootstrap: str, group_id: str = "translate", topic: str = Topics.INGESTED
) -> tuple[str, int]:
    """A group's state and how many of its members hold partitions of ``topic`` (one per
    replica once settled, with enough partitions); by default translate's of
    ``articles.ingested``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for response in await admin.describe_consumer_groups([group_id]):
            for group in response.groups:  # error_code, group_id, state, ..., members
                holding = 0
                for member in group[5]:
                    if not member[4]:  # rebalancing: nothing assigned yet
                        continue
                    assignment = ConsumerProtocolMemberAssignment.decode(member[4]).assignment
                    holding += any(t == topic and ps for t, ps in assignment)
                return str(group[2]), holding
        return "unknown", 0
    finally:
        await admin.close()
