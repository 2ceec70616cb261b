"""End to end: from a CMS's send on ``articles.submitted`` to the entry in every feed.

    python -m bench.e2e [--articles 36] [--rate 0.2] [--burst 30] [--publishers 4]
                        [--page-size 50] [--poll-ms 100] [--feeds-cache-seconds 1]
                        [--profile 12] [--growth 500,2000,8000] [--write FILE]

The whole pipeline runs as real processes on this machine: ingest, translate
(``TRANSLATE_ENGINE=pseudo``: deterministic and instant, so model time is about 0) and feeds, on
a Kafka and a FerretDB started by the benchmark (``deploy/local/stack.py``; or the ones named by
``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI``), in a fresh database. The registry has
``--publishers`` Persian publishers, each translated into en, ar and ru, and (unless
``--no-network``) a network of all of them in en, ar and ru plus a partner city that follows the
network in en on a subject every article has, as in ``deploy/local/registry.yaml``: so an
English translation lands in three feeds, as it would in production.

Load. Real-sized Persian articles (18 paragraphs of about 170 characters, from the sentences of
``tests/fixtures/samples``, each sentence numbered so that no segment repeats and the
translation memory never hits; unique headlines), spread over the publishers, sent by a plain
``AIOKafkaProducer`` as a CMS would. Two loads, one after the other on the same services, after
a warm-up of two articles per publisher:

* steady: ``--articles`` at ``--rate`` articles/s, each sent at its scheduled time; while the
  pipeline keeps up, the latencies are its own (the report shows whether it kept up: the p50 of
  the first third of the articles against the last third);
* burst: ``--burst`` articles sent at once; the latencies are mostly queueing (the last
  article waits for all before it), and the throughput is the pipeline's capacity.

Observation. One asyncio task per publisher feed and language (``/feeds/{p}/{lang}.atom``) polls
with ``If-None-Match`` every ``--poll-ms`` and scans only new 200s for entry ids (a regular
expression over the Atom bytes: a full XML parse of documents of hundreds of kilobytes, several
times a second, would take this 2-core machine's CPU from the system being measured). An entry's
appearance is the arrival time of the first response that holds it, so the figures include up to
one poll interval (half on average) and the request itself. The subscription document shows the
last two pages of ``--page-size`` entries (at least ``page-size + 1``), so at these rates no
entry can scroll out between two polls; entries never seen are looked for in the archives
afterwards and reported. ``FEEDS_CACHE_SECONDS`` stays at the service's default of 1 s: with
one feeds replica it adds no delay (the replica forgets its cached copy when it stores a new
render, ``services/feeds/cache.py``), while 0 makes every poll, 304s included, read the whole
stored document from the database, which the pipeline then waits behind. RSS and JSON Feed are
rendered by the service only when requested after a change, so the benchmark also reads them,
untimed, every ``--others-poll-ms`` (default 1 s): that render work is part of what is measured.

Stages, from the Kafka record timestamps (set by each producer when it sends): submitted (the
benchmark's own send time) → ``articles.ingested`` (ingest announces a version once stored) →
``articles.translated`` (per language) → first seen in the feed. CPU time of every process
(``/proc``) over each load shows where the machine's two cores went.

Then, in process (no Kafka, no HTTP), the feeds service's own work per article: ``--profile``
articles through ``Feeds.add`` on a fresh database in the same FerretDB, every change
rendered at once, with the time of each ``FeedStore`` call and the number of database commands
and renders; and ``FeedStore.upsert_entry`` timed with ``--growth`` entries stored.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import NO_REFUSALS, bulk_producer, command_line, infrastructure, publish, ready
from deploy.local import stack
from shared.contracts import (
    ArticleVersion,
    DateSource,
    IngestedArticle,
    Provenance,
    Topics,
    TranslatedArticle,
)

if TYPE_CHECKING:
    from services.feeds.entries import FeedEntry

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = ROOT / "tests" / "fixtures" / "samples"
SOURCE = "fa"
TARGETS = ("en", "ar", "ru")
LANGUAGES = (SOURCE, *TARGETS)
PARAGRAPHS = 18  # the Metropolis sample's length
SUBJECT = "city diplomacy"
ENTRY_ID = re.compile(rb"<id>(urn:uuid:[0-9a-f-]{36})</id>")
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
SERVICES = ("ingest", "translate", "feeds")
MACHINE = "machine"  # cpu_seconds(): the whole machine's busy time


# --------------------------------------------------------------------------- the articles


def sentence_pool() -> list[str]:
    """Every sentence of the Persian samples (at least 40 characters), in order."""
    from services.translate.segment import split_sentences

    pool: list[str] = []
    for path in sorted(SAMPLES.glob("*.txt")):
        for line in path.read_text().splitlines():
            if len(line.strip()) > 80:
                pool += [s for s in split_sentences(line.strip()) if len(s) >= 40]
    return list(dict.fromkeys(pool))


def publisher_ids(n: int) -> list[str]:
    return [f"e2e{i}" for i in range(n)]


def articles(n: int, run: str, publishers: Sequence[str], offset: int = 0) -> list[dict[str, Any]]:
    """N distinct articles the size of a real one; every sentence numbered, so none repeats."""
    pool = sentence_pool()
    docs = []
    for i in range(offset, offset + n):
        paragraphs = []
        for j in range(PARAGRAPHS):
            sentence = pool[(i * PARAGRAPHS + j) % len(pool)]
            paragraphs.append(f"({_fa(i)}-{_fa(j)}) {sentence}")
        docs.append(
            {
                "publisher": publishers[i % len(publishers)],
                "headline": f"{pool[i % len(pool)][:70]} ({run} {_fa(i)})",
                "body_text": "\n\n".join(paragraphs),
                "external_id": f"{run}-{i}",
                "published": datetime.now(UTC).isoformat(),
                "subjects": ["Metropolis", SUBJECT],
            }
        )
    return docs


def _fa(n: int) -> str:
    return str(n).translate(PERSIAN_DIGITS)


def article_id(doc: dict[str, Any]) -> str:
    from services.ingest.text import article_id as make

    return make(doc["publisher"], doc["external_id"], "", "")


def registry_yaml(publishers: Sequence[str], network: bool) -> str:
    lines = ["publishers:"]
    for p in publishers:
        lines += [
            f"  {p}:",
            f"    name: Benchmark city {p}",
            "    language: fa",
            "    timezone: Asia/Tehran",
            f"    translate_to: [{', '.join(TARGETS)}]",
        ]
    if network:
        lines += [
            "networks:",
            "  e2enet:",
            "    name: Benchmark network",
            f"    members: [{', '.join(publishers)}]",
            f"    languages: [{', '.join(TARGETS)}]",
            "partners:",
            "  e2epartner:",
            "    name: Benchmark partner city",
            "    languages: [en]",
            "    networks: [e2enet]",
            f"    subjects: [{SUBJECT}]",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the system


@dataclass
class Stack:
    state: Path
    env: dict[str, str]
    feeds_url: str
    processes: dict[str, stack.Process] = field(default_factory=dict)

    def start(self) -> None:
        for name in SERVICES:
            proc = stack.service_process(name, self.state, self.env)
            proc.start()
            self.processes[name] = proc
        for name in SERVICES:
            port = self.env[f"{name.upper()}_HTTP_PORT"]
            url = f"http://127.0.0.1:{port}/readyz"
            stack.wait_until(partial(ready, url), f"{name} service", 90, self.processes[name])

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop(timeout=30)

    def pids(self) -> dict[str, int]:
        """The processes whose CPU is counted: the services, and Kafka and FerretDB when the
        benchmark started them (their pid files are in the same state directory)."""
        found = {name: proc.pid() for name, proc in self.processes.items()}
        for name in ("kafka", "ferretdb"):
            found[name] = stack.Process(name, self.state).pid()
        return {name: pid for name, pid in found.items() if pid}


def service_env(kafka: str, mongo: str, db: str) -> tuple[dict[str, str], str]:
    """The three services' environment on free ports (pseudo engine, no rate limits), and the
    feeds service's URL: the system every end-to-end benchmark runs."""
    ports = {name: stack.free_port() for name in SERVICES}
    feeds_url = f"http://127.0.0.1:{ports['feeds']}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": db,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "INGEST_HTTP_PORT": str(ports["ingest"]),
        "TRANSLATE_HTTP_PORT": str(ports["translate"]),
        "TRANSLATE_ENGINE": "pseudo",
        "FEEDS_HTTP_PORT": str(ports["feeds"]),
        "FEEDS_PUBLIC_URL": feeds_url,
        "INGEST_RATE_LIMIT": NO_REFUSALS,
        "FEEDS_RATE_LIMIT": NO_REFUSALS,
    }
    return env, feeds_url


def start_stack(kafka: str, mongo: str, state: Path, args: argparse.Namespace) -> Stack:
    db = f"bench_e2e_{uuid.uuid4().hex[:8]}"
    env, feeds_url = service_env(kafka, mongo, db)
    env["FEEDS_ENTRIES_PER_FEED"] = str(args.page_size)
    env["FEEDS_CACHE_SECONDS"] = str(args.feeds_cache_seconds)
    if args.render_delay_ms is not None:
        env["FEEDS_RENDER_DELAY_MS"] = f"{args.render_delay_ms:g}"
    registry = state / "registry.yaml"
    registry.write_text(registry_yaml(publisher_ids(args.publishers), args.network))
    load_registry(registry, mongo, db)
    system = Stack(state, env, feeds_url)
    system.start()
    return system


def load_registry(path: Path, mongo: str, db: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(path)],
        env={**os.environ, "MONGODB_URI": mongo, "MONGODB_DATABASE": db},
        check=True,
        capture_output=True,
    )


def drop_database(mongo: str, db: str) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo, retryWrites=False) as client:
        client.drop_database(db)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each process so far, and of this benchmark process."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    times = os.times()
    out["benchmark"] = times.user + times.system
    # The whole machine (every CPU, busy = not idle and not waiting on I/O): whatever else
    # runs on it shows up as the difference.
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    out[MACHINE] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / tick
    return out


# --------------------------------------------------------------------------- observing feeds


@dataclass
class Observer:
    """First-seen times of entry ids, from conditional GETs of the publisher feeds."""

    feeds_url: str
    feeds: list[tuple[str, str]]  # (publisher, language)
    poll_s: float
    others_s: float = 0.0  # RSS and JSON Feed readers' interval (0: none)
    expected: set[str] = field(default_factory=set)
    seen: dict[str, float] = field(default_factory=dict)
    etags: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: int = 0
    other_requests: int = 0
    changed: int = 0
    bytes: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, ids: Iterable[str]) -> None:
        self.expected |= set(ids)
        self.done.clear()

    def missing(self) -> set[str]:
        return self.expected - self.seen.keys()

    async def run(self, stop: asyncio.Event) -> None:
        readers = [
            self._read(f"{self.feeds_url}/feeds/{p}/{lang}.{fmt}", stop)
            for p, lang in self.feeds
            for fmt in ("rss", "json")
            if self.others_s > 0
        ]
        limits = httpx.Limits(max_connections=len(self.feeds) + 2)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await asyncio.gather(*(self._poll(client, f, stop) for f in self.feeds), *readers)

    async def _read(self, url: str, stop: asyncio.Event) -> None:
        """A reader of another format: not timed, but its requests make the service render
        that format after each change (RSS and JSON Feed are rendered on demand)."""
        etag = ""
        async with httpx.AsyncClient(timeout=30) as client:
            while not stop.is_set():
                try:
                    resp = await client.get(url, headers={"If-None-Match": etag} if etag else {})
                    self.other_requests += 1
                    etag = resp.headers.get("etag", etag)
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(self.others_s)

    async def _poll(
        self, client: httpx.AsyncClient, feed: tuple[str, str], stop: asyncio.Event
    ) -> None:
        publisher, language = feed
        url = f"{self.feeds_url}/feeds/{publisher}/{language}.atom"
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            headers = {"Accept-Encoding": "identity"}  # gzip would be the benchmark's cost
            if feed in self.etags:
                headers["If-None-Match"] = self.etags[feed]
            try:
                resp = await client.get(url, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(self.poll_s)
                continue
            now = time.time()
            self.requests += 1
            if resp.status_code == 200:
                self.changed += 1
                self.bytes += len(resp.content)
                self.etags[feed] = resp.headers.get("etag", "")
                for match in ENTRY_ID.finditer(resp.content):
                    entry = match.group(1).decode()
                    if entry in self.expected and entry not in self.seen:
                        self.seen[entry] = now
                if self.expected and not self.missing():
                    self.done.set()
            await asyncio.sleep(max(0.0, self.poll_s - (loop.time() - started)))

    async def search_archives(self, ids: set[str]) -> set[str]:
        """Which of ``ids`` are in a feed's history (archives included): entries that scrolled
        past the subscription document between two polls, if any ever does."""
        found: set[str] = set()
        async with httpx.AsyncClient(timeout=30) as client:
            for publisher, language in self.feeds:
                link: str | None = f"{self.feeds_url}/feeds/{publisher}/{language}.atom"
                while link:  # RFC 5005: the subscription document, then each prev-archive
                    resp = await client.get(link)
                    resp.raise_for_status()
                    found |= ids & {m.decode() for m in ENTRY_ID.findall(resp.content)}
                    link = prev_archive(resp.content)
        return found


def prev_archive(atom: bytes) -> str | None:
    from lxml import etree  # type: ignore[import-untyped]

    root = etree.fromstring(atom)
    for link in root.iterfind("{http://www.w3.org/2005/Atom}link"):
        if link.get("rel") == "prev-archive":
            return str(link.get("href"))
    return None


# --------------------------------------------------------------------------- one mode


@dataclass
class Mode:
    name: str
    n: int
    rate: float | None  # None: all at once
    sent: dict[str, float] = field(default_factory=dict)  # article id -> send time
    seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (article, lang) -> time
    ingested: dict[str, float] = field(default_factory=dict)
    translated: dict[tuple[str, str], float] = field(default_factory=dict)
    missing: int = 0
    in_archives: int = 0
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    polls: tuple[int, int, int] = (0, 0, 0)

    @property
    def throughput(self) -> float:
        return self.n / self.wall_s if self.wall_s else 0.0

    def latencies(self, language: str) -> list[float]:
        return [
            self.seen[(a, language)] - t for a, t in self.sent.items() if (a, language) in self.seen
        ]

    def drift(self, language: str) -> tuple[float, float]:
        """p50 latency of the first and of the last third of the articles sent."""
        order = sorted(self.sent, key=self.sent.__getitem__)
        third = max(1, len(order) // 3)

        def p50(ids: list[str]) -> float:
            return percentile(
                [
                    self.seen[(a, language)] - self.sent[a]
                    for a in ids
                    if (a, language) in self.seen
                ],
                50,
            )

        return p50(order[:third]), p50(order[-third:])

    def stage(self, name: str, language: str | None = None) -> list[float]:
        out = []
        for a, sent in self.sent.items():
            ingested = self.ingested.get(a)
            if name == "ingest" and ingested is not None:
                out.append(ingested - sent)
            elif name == "feed-fa" and ingested is not None and (a, SOURCE) in self.seen:
                out.append(self.seen[(a, SOURCE)] - ingested)
            elif language is not None and (a, language) in self.translated:
                translated = self.translated[(a, language)]
                if name == "translate" and ingested is not None:
                    out.append(translated - ingested)
                elif name == "feed" and (a, language) in self.seen:
                    out.append(self.seen[(a, language)] - translated)
        return out


async def send_articles(
    producer: AIOKafkaProducer, docs: list[dict[str, Any]], rate: float | None
) -> dict[str, float]:
    """Send each article at its time (all at once without a rate); article id -> send time."""
    values = [(article_id(d), json.dumps(d, ensure_ascii=False).encode()) for d in docs]
    sent: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i, (ident, value) in enumerate(values):
        if rate:
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[ident] = time.time()
        await producer.send(Topics.SUBMITTED, value)  # queued: delivery is not waited for
    await producer.flush()
    return sent


async def run_mode(
    mode: Mode,
    system: Stack,
    observer: Observer,
    producer: AIOKafkaProducer,
    kafka: str,
    run: str,
    publishers: list[str],
    offset: int,
    wait_s: float,
) -> None:
    from services.feeds.render import entry_id

    docs = articles(mode.n, run, publishers, offset)
    ids = [article_id(d) for d in docs]
    by_entry = {entry_id(a, lang): (a, lang) for a in ids for lang in LANGUAGES}
    marks = await end_offsets(kafka, (Topics.INGESTED, Topics.TRANSLATED))
    observer.expect(by_entry)
    pids = system.pids()
    cpu_before = cpu_seconds(pids)
    polls_before = (observer.requests, observer.changed, observer.bytes)
    started = time.time()
    mode.sent = await send_articles(producer, docs, mode.rate)
    try:
        await asyncio.wait_for(observer.done.wait(), wait_s)
    except TimeoutError:
        print(f"  timed out after {wait_s:.0f} s", flush=True)
    cpu_after = cpu_seconds(pids)
    mine = {e: t for e, t in observer.seen.items() if e in by_entry}
    mode.seen = {by_entry[e]: t for e, t in mine.items()}
    mode.wall_s = (max(mine.values()) if mine else time.time()) - started
    mode.cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
    mode.polls = tuple(  # type: ignore[assignment]
        after - before
        for after, before in zip(
            (observer.requests, observer.changed, observer.bytes), polls_before, strict=True
        )
    )
    missing = {e for e in by_entry if e not in mine}
    mode.missing = len(missing)
    if missing:
        mode.in_archives = len(await observer.search_archives(missing))
    mode.ingested, mode.translated = await stage_times(kafka, marks, set(ids))


async def end_offsets(kafka: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # no public API for this
        partitions = [
            TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()
        ]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def stage_times(
    kafka: str, start: dict[TopicPartition, int], ids: set[str]
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """When each article was announced on ``articles.ingested`` and each translation on
    ``articles.translated`` (record timestamps), read after the run from the offsets of its
    start, so that reading costs the measured system nothing."""
    ingested: dict[str, float] = {}
    translated: dict[tuple[str, str], float] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = list(start)
        consumer.assign(partitions)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(120):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batch = await consumer.getmany(*partitions, timeout_ms=500)
                for tp, records in batch.items():
                    for r in records:
                        ident = (r.key or b"").decode()
                        if ident not in ids or r.offset >= ends[tp]:
                            continue
                        when = r.timestamp / 1000
                        if tp.topic == Topics.INGESTED:
                            ingested.setdefault(ident, when)
                        else:
                            lang = json.loads(r.value)["language"]
                            translated.setdefault((ident, lang), when)
    finally:
        await consumer.stop()
    return ingested, translated


# --------------------------------------------------------------------------- feeds in process

STORE_CALLS = (
    "put_entries",
    "add_to_feeds",
    "languages",
    "statuses",
    "page_items",
    "save_rendered",
    "get_rendered",
    "head",
)


@dataclass
class Profile:
    """The feeds service's work per article, counted in process (``Feeds.add`` on the
    same FerretDB, without Kafka or HTTP, every change rendered at once)."""

    n: int
    page_size: int
    wall: dict[str, list[float]] = field(default_factory=dict)  # language -> s per add()
    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    commands: int = 0
    renders: int = 0  # documents rendered: Atom with each change (RSS, JSON Feed on request)
    growth: list[tuple[int, float, float]] = field(default_factory=list)  # entries, ms, ms


def command_counter() -> Any:
    """A pymongo command listener that counts the commands sent (``.count``)."""
    from pymongo import monitoring

    class CommandCounter(monitoring.CommandListener):
        count = 0

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            self.count += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    return CommandCounter()


def feeds_events(doc: dict[str, Any]) -> list[ArticleVersion]:
    """The feeds' input for one ``bench.e2e`` article: its source-language event as ingest
    announces it, then its translations into en, ar and ru as translate announces them
    (pseudo-translated: the same size, marked with the language)."""
    now = datetime.now(UTC)
    paragraphs = doc["body_text"].split("\n\n")
    common: dict[str, Any] = {
        "article_id": article_id(doc),
        "version": 1,
        "publisher": doc["publisher"],
        "subjects": doc["subjects"],
        "published": now,
    }
    out: list[ArticleVersion] = [
        IngestedArticle(
            **common,
            language=SOURCE,
            headline=doc["headline"],
            body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
            body_text=doc["body_text"],
            external_id=doc["external_id"],
            published_source=DateSource.EDITOR,
            content_hash=hashlib.sha256(doc["body_text"].encode()).hexdigest(),
            ingested_at=now,
        )
    ]
    for lang in TARGETS:
        out.append(
            TranslatedArticle(
                **common,
                language=lang,
                source_language=SOURCE,
                headline=f"[{lang}] {doc['headline']}",
                body_html="".join(
                    f"<p>[{lang}] {html.escape(p, quote=False)}</p>" for p in paragraphs
                ),
                provenance=Provenance(engine="pseudo", model="pseudo", translated_at=now),
            )
        )
    return out


def feed_events(doc: dict[str, Any]) -> list[tuple[str, FeedEntry]]:
    """The feeds entries of one article as the consumers make them: the Persian original,
    then its translations (pseudo-translated, the same size)."""
    from services.feeds.consumer import entry

    out = []
    for event in feeds_events(doc):
        if isinstance(event, IngestedArticle):
            out.append((SOURCE, entry(event, SOURCE, event.ingested_at, None)))
        elif isinstance(event, TranslatedArticle):
            p = event.provenance
            out.append(
                (event.language, entry(event, SOURCE, p.translated_at, p.model_dump(mode="json")))
            )
    return out


async def profile_feeds(mongo: str, state: Path, args: argparse.Namespace) -> Profile:
    from pymongo import AsyncMongoClient

    from services.feeds import documents
    from services.feeds.publishing import Feeds
    from services.feeds.store import FeedStore
    from shared.registry import Registry

    db_name = f"bench_e2e_profile_{uuid.uuid4().hex[:8]}"
    registry = state / "registry.yaml"
    registry.write_text(registry_yaml(publisher_ids(args.publishers), args.network))
    load_registry(registry, mongo, db_name)
    counter = command_counter()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo, tz_aware=True, tzinfo=UTC, retryWrites=False, event_listeners=[counter]
    )
    profile = Profile(args.profile, args.page_size)
    store = FeedStore(client[db_name], args.page_size)
    calls: dict[str, int] = dict.fromkeys(STORE_CALLS, 0)
    seconds: dict[str, float] = dict.fromkeys(STORE_CALLS, 0.0)

    def timed(name: str) -> None:
        call = getattr(store, name)

        async def wrapper(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return await call(*a, **kw)
            finally:
                calls[name] += 1
                seconds[name] += time.perf_counter() - started

        setattr(store, name, wrapper)

    for name in STORE_CALLS:
        timed(name)
    namespace = vars(documents)  # the module's render(), counted
    render = namespace["render"]
    rendered = 0

    def counting_render(*a: Any, **kw: Any) -> bytes:
        nonlocal rendered
        rendered += 1
        body: bytes = render(*a, **kw)
        return body

    namespace["render"] = counting_render
    try:
        feeds = Feeds(store, Registry(client[db_name]), "http://127.0.0.1")
        publishers = publisher_ids(args.publishers)
        wall: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
        docs = articles(args.profile, f"p{uuid.uuid4().hex[:4]}", publishers)
        for doc in docs:
            for lang, event in feed_events(doc):
                started = time.perf_counter()
                await feeds.add(event)
                wall[lang].append(time.perf_counter() - started)
        profile.wall, profile.calls, profile.seconds = wall, dict(calls), dict(seconds)
        profile.commands, profile.renders = counter.count, rendered
        profile.growth = await upsert_growth(store, args.growth)
    finally:
        namespace["render"] = render
        await client.drop_database(db_name)
        await client.close()
    return profile


async def upsert_growth(store: Any, sizes: Sequence[int]) -> list[tuple[int, float, float]]:
    """``FeedStore.upsert_entry`` (median of 5) and a read by ``_id`` of ``feed_entries``, with
    that many entries stored: copies of a real one."""
    from services.feeds.store import _entry as stored_entry  # the store's own document reader

    template = await store.entries.find_one({})
    if template is None:
        return []
    stored = await store.entries.count_documents({})
    out = []
    for size in sizes:
        copies = [
            {**template, "_id": f"growth-{i}:{SOURCE}", "article_id": f"growth-{i}"}
            for i in range(stored, size)
        ]
        for i in range(0, len(copies), 500):
            await store.entries.insert_many(copies[i : i + 500], ordered=False)
        stored = max(stored, size)
        upserts, reads = [], []
        for j in range(5):
            doc = {k: v for k, v in template.items() if k not in {"_id", "appended", "pages"}}
            doc["article_id"] = f"growth-new-{size}-{j}"
            started = time.perf_counter()
            await store.upsert_entry(stored_entry(doc))
            upserts.append(time.perf_counter() - started)
            started = time.perf_counter()
            await store.entries.find_one({"_id": f"growth-{j}:{SOURCE}"})
            reads.append(time.perf_counter() - started)
        out.append((size, percentile(upserts, 50) * 1000, percentile(reads, 50) * 1000))
    return out


def profile_report(p: Profile) -> list[str]:
    events = sum(len(v) for v in p.wall.values())
    per_article = {name: p.seconds[name] / p.n for name in STORE_CALLS}
    total = sum(sum(v) for v in p.wall.values()) / p.n
    busiest = sorted(per_article.items(), key=lambda kv: -kv[1])
    lines = [
        "",
        f"The feeds service's work per article, counted in process (`Feeds.add` on the "
        f"same FerretDB, no Kafka or HTTP, each change rendered at once as under light load; "
        f"{p.n} articles, {events} events, page size {p.page_size}):",
        "",
        f"- {p.renders / p.n:.1f} feed renders per article (Atom; RSS and JSON Feed are "
        f"rendered when first requested after a change, and nothing requests them here), "
        f"{p.commands / p.n:.0f} database commands, {1000 * total:,.0f} ms;",
        "- per event (median): "
        + ", ".join(f"{lang} {fmt_ms(percentile(p.wall[lang], 50))}" for lang in LANGUAGES)
        + ";",
        "- time per article by store call (calls): "
        + ", ".join(
            f"`{name}` {1000 * s:,.0f} ms ({p.calls[name] / p.n:.0f})"
            for name, s in busiest
            if s * 1000 >= 1
        )
        + ".",
    ]
    if p.growth:
        lines.append(
            "- `upsert_entry` against the entries stored (median of 5; a read by `_id` for "
            "comparison): "
            + ", ".join(f"{n:,}: {up:,.0f} ms ({rd:.1f} ms)" for n, up, rd in p.growth)
            + "."
        )
    return lines


# --------------------------------------------------------------------------- report


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100); NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def fmt_ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def triple(values: Sequence[float]) -> str:
    return " / ".join(fmt_ms(percentile(values, p)) for p in (50, 95, 99))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def summary(mode: Mode) -> str:
    fa = mode.latencies(SOURCE)
    translated = [x for lang in TARGETS for x in mode.latencies(lang)]
    return (
        f"{mode.name}: {mode.n} articles, {mode.throughput:.1f} articles/s end to end; "
        f"fa p50/p95/p99 {triple(fa)}; translated {triple(translated)}; "
        f"missing {mode.missing}"
    )


def render_delay_ms(args: argparse.Namespace) -> str:
    """``FEEDS_RENDER_DELAY_MS`` as the feeds service runs with it."""
    if args.render_delay_ms is not None:
        return f"{args.render_delay_ms:g}"
    from services.feeds.settings import FeedsSettings

    field_info = FeedsSettings.model_fields.get("render_delay_ms")
    return f"{field_info.default} (default)" if field_info is not None else "n/a"


def report(
    modes: list[Mode],
    profile: Profile | None,
    args: argparse.Namespace,
    database: str,
    command: str,
) -> str:
    shape = f"{args.publishers} publishers (fa → en, ar, ru), " + (
        "a network of all of them (en, ar, ru) and a partner city following it in en"
        if args.network
        else "no network or partner"
    )
    lines = [
        "## End to end: submission to feeds",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}; Kafka {stack.KAFKA_VERSION} and {database}, local, started by "
        f"the benchmark; ingest, translate (`TRANSLATE_ENGINE=pseudo`) and feeds, one process "
        f"each; {time.strftime('%Y-%m-%d')}.  ",
        f"Registry: {shape}. Articles: 18 paragraphs (about 3,100 characters), every sentence "
        f"unique. Feeds: `FEEDS_ENTRIES_PER_FEED={args.page_size}`, "
        f"`FEEDS_CACHE_SECONDS={args.feeds_cache_seconds:g}`, "
        f"`FEEDS_RENDER_DELAY_MS={render_delay_ms(args)}`; each publisher feed polled every "
        f"{args.poll_ms} ms with `If-None-Match` in Atom (timed)"
        + (
            f", and every {args.others_poll_ms} ms in RSS and in JSON Feed (not timed: readers "
            f"whose requests make the service render those formats after each change)."
            if args.others_poll_ms > 0
            else "; no RSS or JSON Feed reader (those formats are rendered only on request)."
        ),
    ]
    if modes:
        lines += latency_tables(modes)
    if profile is not None:
        lines += profile_report(profile)
    return "\n".join(lines) + "\n"


def latency_tables(modes: list[Mode]) -> list[str]:
    lines = [
        "",
        "| load | articles | throughput, end to end | fa feed p50 / p95 / p99 "
        "| en | ar | ru | fa p50, first → last third sent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in modes:
        offered = f"{m.rate:g} articles/s" if m.rate else "all at once"
        cells = [triple(m.latencies(lang)) for lang in LANGUAGES]
        first, last = m.drift(SOURCE)
        lines.append(
            f"| {m.name}: {offered} | {m.n} | {m.throughput:.2f} articles/s ({m.wall_s:.1f} s) "
            f"| {' | '.join(cells)} | {fmt_ms(first)} → {fmt_ms(last)} |"
        )
    lines += [
        "",
        "Latency: from the benchmark's send to the first poll that shows the entry. Goals: fa "
        "p95 under 1 s; translated feeds p95 under 1 s beyond model time (about 0 with the "
        "pseudo engine). A p50 that grows from the first to the last third means a queue grew: "
        "the load was more than the pipeline could take.",
        "",
        "Where the time goes (p50 / p95, from Kafka record timestamps):",
        "",
        "| load | submitted → ingested | ingested → fa feed "
        "| ingested → translated (en, ar, ru) | translated → feed (en, ar, ru) |",
        "|---|---|---|---|---|",
    ]
    for m in modes:
        translate = [x for lang in TARGETS for x in m.stage("translate", lang)]
        feed = [x for lang in TARGETS for x in m.stage("feed", lang)]
        stages = [m.stage("ingest"), m.stage("feed-fa"), translate, feed]
        lines.append(
            f"| {m.name} | "
            + " | ".join(" / ".join(fmt_ms(percentile(s, p)) for p in (50, 95)) for s in stages)
            + " |"
        )
    names = ["ingest", "translate", "feeds", "kafka", "ferretdb", "benchmark"]
    lines += [
        "",
        "CPU per process over each load (share of one core; ms of CPU per article); the machine: "
        "every process on it (others: not this benchmark's):",
        "",
        "| load | " + " | ".join(names) + " | others | machine (2 cores: 200 %) |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for m in modes:
        cells = []
        for name in names:
            used = m.cpu.get(name)
            cells.append(
                "n/a"
                if used is None
                else f"{100 * used / m.wall_s:.0f} % ({1000 * used / m.n:,.0f} ms)"
            )
        busy = m.cpu.get(MACHINE, 0.0)
        others = busy - sum(v for k, v in m.cpu.items() if k != MACHINE)
        lines.append(
            f"| {m.name} | "
            + " | ".join(cells)
            + f" | {100 * max(others, 0) / m.wall_s:.0f} % | {100 * busy / m.wall_s:.0f} % |"
        )
    lines.append("")
    for m in modes:
        requests, changed, size = m.polls
        lines.append(
            f"Polls, {m.name}: {requests:,} requests, {changed:,} of them 200 "
            f"({size / max(changed, 1) / 1024:.0f} KB on average), the rest 304; entries never "
            f"seen by a poll: {m.missing} ({m.in_archives} of them found in the archives).  "
        )
    return lines


# --------------------------------------------------------------------------- main


async def main_async(args: argparse.Namespace) -> int:
    modes: list[Mode] = []
    if args.articles:
        modes.append(Mode("steady", args.articles, args.rate))
    if args.burst:
        modes.append(Mode("burst", args.burst, None))
    profile = None
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            if modes:
                system = start_stack(kafka, mongo, state, args)
                try:
                    await measure(system, kafka, modes, args)
                finally:
                    system.stop()
                    drop_database(mongo, system.env["MONGODB_DATABASE"])
            if args.profile:
                profile = await profile_feeds(mongo, state, args)
                print("\n".join(profile_report(profile)), flush=True)
    command = command_line("e2e", args.from_make)
    section = report(modes, profile, args, database, command)
    publish(section, "e2e", args.write)
    return 0


async def measure(system: Stack, kafka: str, modes: list[Mode], args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:6]
    publishers = publisher_ids(args.publishers)
    feeds = [(p, lang) for p in publishers for lang in LANGUAGES]
    observer = Observer(system.feeds_url, feeds, args.poll_ms / 1000, args.others_poll_ms / 1000)
    stop = asyncio.Event()
    polling = asyncio.create_task(observer.run(stop))
    producer = bulk_producer(kafka)
    await producer.start()
    try:
        # Warm-up: consumer groups assigned, code paths and connections warm, feeds exist.
        warm = Mode("warm-up", 2 * len(publishers), 20.0)
        await run_mode(warm, system, observer, producer, kafka, f"w{run}", publishers, 0, 120)
        print(summary(warm), flush=True)
        offset = warm.n
        for mode in modes:
            timeout = args.timeout or 120 + 3 * mode.n / (mode.rate or 5)
            await run_mode(
                mode, system, observer, producer, kafka, run, publishers, offset, timeout
            )
            offset += mode.n
            print(summary(mode), flush=True)
            await asyncio.sleep(2)  # let the last renders settle before the next load
    finally:
        stop.set()
        await producer.stop()
        await polling


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--articles", type=int, default=36, help="steady load (0: skip)")
    parser.add_argument("--rate", type=float, default=0.2, help="steady load, articles/s")
    parser.add_argument("--burst", type=int, default=30, help="articles sent at once (0: skip)")
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument(
        "--no-network", dest="network", action="store_false", help="publishers' feeds only"
    )
    parser.add_argument("--page-size", type=int, default=50, help="FEEDS_ENTRIES_PER_FEED")
    parser.add_argument("--poll-ms", type=int, default=100)
    parser.add_argument(
        "--others-poll-ms",
        type=int,
        default=1000,
        help="RSS and JSON Feed readers of each publisher feed, not timed (0: none)",
    )
    parser.add_argument(
        "--feeds-cache-seconds", type=float, default=1.0, help="FEEDS_CACHE_SECONDS"
    )
    parser.add_argument(
        "--render-delay-ms",
        type=float,
        default=None,
        help="FEEDS_RENDER_DELAY_MS (default: the service's)",
    )
    parser.add_argument("--timeout", type=float, default=0, help="per load (0: from N and rate)")
    parser.add_argument(
        "--profile", type=int, default=12, help="articles for the in-process feeds count (0: skip)"
    )
    parser.add_argument(
        "--growth",
        type=lambda s: [int(n) for n in s.split(",") if n],
        default=[500, 2000, 8000],
        help="entries stored when timing upsert_entry (empty: skip)",
    )
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
