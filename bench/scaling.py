"""Translate with 1 and with 3 replicas, and feeds with 1 and with 2: the speed-up of each.

    python -m bench.scaling [--stages translate,feeds] [--articles 120] [--repeat 2]
                            [--replicas 1,3] [--engines bench-wait,bench-cpu] [--wait-ms 50]
                            [--wait-segment-ms 5] [--cpu-iterations 20000]
                            [--feeds-articles 1000] [--feeds-replicas 1,2]
                            [--feeds-timeout 180] [--write FILE]

Translate. The translate service runs as real processes on this machine, 1 and then 3 of them
in the same consumer group, with one of two benchmark engines (``bench/engines.py``, plugged in
by import path; their output is marked and is not a translation):

* ``bench-wait``: each engine call waits ``--wait-ms`` plus ``--wait-segment-ms`` per segment
  (``asyncio.sleep``), as with a remote GPU server or a hosted API: the replica's CPU is idle
  while it waits;
* ``bench-cpu``: each segment costs ``--cpu-iterations`` turns of a tight pure-Python loop, in
  a worker thread, as with a local model: fixed, deterministic CPU work.

Each round starts with a fresh database (so the translation memory is empty) and its replicas
started and joined to the group (the group is Stable with every replica in it, checked with the
broker's DescribeGroups). Then N real-sized Persian articles (18 paragraphs from
``tests/fixtures/samples``, every sentence numbered so that none repeats and the memory never
hits) go onto ``articles.ingested`` at once, as ingest's events, round robin over the
partitions (so each replica gets the same share), and the clock runs until every article's
translations into en, ar and ru are on ``articles.translated``. Throughput is articles per second
through translate (ingested → translated, all three languages); speed-up is the rate with 3
replicas over the rate with 1. The replicas' own logs ("translated batch") give the time spent
in engine calls, per replica, and confirm that the memory never hit.

Feeds. The feeds service runs as 1 and then 2 processes in its consumer groups (``feeds`` on
``articles.ingested``, ``feeds-translations`` on ``articles.translated``), on a fresh database
with ``bench.e2e``'s registry: 4 Persian publishers translated into en, ar and ru, a network of
them all (en, ar, ru) and a partner city following it in en, so that each article is 4 entries
and 8 feed items (its publisher's 4 languages, the network's 3, the partner's 1). The groups'
offsets are first moved to the topics' ends (what earlier rounds left there is not this
round's), the replicas join, and a warm-up article per partition is waited for. Then
``--feeds-articles`` articles' events go onto both topics at once, the feeds' real input: the
source-language event as ingest sends it and its three translations as translate sends them
(the ``bench.e2e`` articles, pseudo-translated, the same size), each article's four on one
partition of each topic, round robin. The clock runs until both groups have committed offsets
at the end of both topics (read from the broker every 0.25 s, ``bench.archive.Probe``); then
the entries and feed items in the database are counted against what the articles must make.
Documents are rendered when read (``Feeds.rendered``), so no rendering is in this figure. Also
reported: database commands and documents written per article (each replica's ``/metrics``,
summed) and CPU per process. A round not done within ``--feeds-timeout`` seconds is reported
with the records the groups had committed by then, and gives no speed-up.

Kafka and FerretDB are started on free ports (``deploy/local/stack.py``) unless
``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` point elsewhere. Replicas are capped by the
partitions of the topics (``TOPIC_PARTITIONS``, default 6): reported with the figures. Rounds
alternate their order (1, 3; 3, 1; ...) and the speed-ups use median rates. ``--write``
replaces the whole ``scaling`` section of the page with the stages of this run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import logging
import os
import statistics
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
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.archive import WRITTEN, Probe, Snapshot, parse_commands
from bench.common import bulk_producer, command_line, infrastructure, publish, ready
from bench.e2e import (
    LANGUAGES,
    MACHINE,
    articles,
    cpu_seconds,
    drop_database,
    end_offsets,
    feeds_events,
    machine,
    publisher_ids,
    registry_yaml,
    sentence_pool,
    service_env,
)
from bench.engines import IMPORT_PATHS
from deploy.local import stack
from shared.contracts import (
    DateSource,
    IngestedArticle,
    Topics,
)
from shared.groups import group_id

ROOT = Path(__file__).resolve().parent.parent

PUBLISHER = "scaling"
TARGETS = ("en", "ar", "ru")
PARAGRAPHS = 18
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
REGISTRY = f"""publishers:
  {PUBLISHER}:
    name: Scaling benchmark city
    language: fa
    timezone: Asia/Tehran
    translate_to: [{", ".join(TARGETS)}]
"""
STAGES = ("translate", "feeds")  # run in this order, whatever ``--stages`` says
TRANSLATE_GROUPS = ((group_id("translate"), Topics.INGESTED),)
FEEDS_GROUPS = (
    (group_id("feeds"), Topics.INGESTED),
    (group_id("feeds", "translations"), Topics.TRANSLATED),
)
FEEDS_PUBLISHERS = 4
FEEDS_REGISTRY = "feeds-registry.yaml"  # bench.e2e's, with its network and partner
# Feed items per article: its publisher's feeds (fa, en, ar, ru), the network's (en, ar, ru),
# the partner's (en; every bench.e2e article has the partner's subject).
FEED_ITEMS = 8
FEEDS_GOAL = 1.8  # speed-up with 2 replicas, issue 22
PROBE_S = 0.25  # how often the feeds groups' offsets are read while waiting


def events(n: int, run: str, first: int = 0) -> list[tuple[bytes, bytes]]:
    """(key, value) of N ``articles.ingested`` events: real-sized, every sentence unique (it
    carries ``run`` and its numbers, ``first`` to ``first + n - 1``), also across rounds."""
    pool = sentence_pool()
    now = datetime.now(UTC)
    out = []
    for i in range(first, first + n):
        paragraphs = [
            f"({run} {_fa(i)}-{_fa(j)}) {pool[(i * PARAGRAPHS + j) % len(pool)]}"
            for j in range(PARAGRAPHS)
        ]
        headline = f"{pool[i % len(pool)][:70]} ({run} {_fa(i)})"
        body_text = "\n\n".join(paragraphs)
        article = IngestedArticle(
            article_id=f"{PUBLISHER}-{run}-{i}",
            version=1,
            publisher=PUBLISHER,
            language="fa",
            headline=headline,
            body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
            body_text=body_text,
            subjects=["benchmark"],
            published=now,
            published_source=DateSource.EDITOR,
            content_hash=hashlib.sha256(f"{headline}\n{body_text}".encode()).hexdigest(),
            ingested_at=now,
        )
        out.append((article.article_id.encode(), article.model_dump_json().encode()))
    return out


def _fa(n: int) -> str:
    return str(n).translate(PERSIAN_DIGITS)


class Timed:
    """What both stages' rounds report from their articles, seconds and CPU by process."""

    n: int
    seconds: float
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def share(self, names: tuple[str, ...]) -> float:
        """CPU used by these processes over the round, in cores."""
        return sum(v for k, v in self.cpu.items() if k.startswith(names)) / self.seconds


@dataclass
class Round(Timed):
    engine: str
    replicas: int
    n: int
    seconds: float
    cpu: dict[str, float]
    partitions: int
    engine_seconds: dict[str, float] = field(default_factory=dict)  # per replica
    memory_hits: int = 0
    round: int = 1


def engine_env(engine: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        "TRANSLATE_ENGINE": IMPORT_PATHS.get(engine, engine),
        "BENCH_WAIT_MS": str(args.wait_ms),
        "BENCH_WAIT_SEGMENT_MS": str(args.wait_segment_ms),
        "BENCH_CPU_ITERATIONS": str(args.cpu_iterations),
    }


def start_replicas(
    state: Path,
    env: dict[str, str],
    replicas: int,
    service: str = "translate",
    registry: str = "registry.yaml",
) -> list[stack.Process]:
    """The registry loaded into the round's database, then ``replicas`` processes of the
    service, each on an HTTP port of its own, until each is ready."""
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(state / registry)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port_var = f"{service.upper()}_HTTP_PORT"
    procs = []
    for i in range(replicas):
        port = str(stack.free_port())
        proc = stack.service_process(service, state, {**env, port_var: port})
        proc.name = f"{service}-{i}"
        proc.start()
        procs.append(proc)
    for i, proc in enumerate(procs):
        port = proc.env[port_var]
        url = f"http://127.0.0.1:{port}/readyz"
        stack.wait_until(partial(ready, url), f"{service} replica {i}", 90, proc)
    return procs


async def group_state(kafka: str, group: str, topic: str) -> tuple[str, int]:
    """The consumer group's state and how many of its members hold partitions of ``topic``
    (DescribeGroups; each translate replica has a second member, for its other topic)."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        for response in await admin.describe_consumer_groups([group]):
            for described in response.groups:
                # error_code, group_id, state, protocol_type, protocol, members, ...
                holding = 0
                for member in described[5]:
                    assignment = ConsumerProtocolMemberAssignment.decode(member[4])
                    holding += any(t == topic and parts for t, parts in assignment.assignment)
                return str(described[2]), holding
        return "unknown", 0
    finally:
        await admin.close()


async def until_stable(
    kafka: str,
    replicas: int,
    within_s: float = 60,
    groups: tuple[tuple[str, str], ...] = TRANSLATE_GROUPS,
) -> None:
    """Until each (group, topic) of ``groups`` is Stable with ``replicas`` members holding
    partitions of its topic."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    for group, topic in groups:
        state: tuple[str, int] = ("unknown", 0)
        while loop.time() < deadline:
            state = await group_state(kafka, group, topic)
            if state == ("Stable", replicas):
                break
            await asyncio.sleep(0.2)
        else:
            raise TimeoutError(f"{group} group not Stable with {replicas} members: {state}")


async def partitions_of(kafka: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # no public API for this
        return len(cluster.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


async def send_spread(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes, bytes]], step: int = 1
) -> None:
    """Send the records round robin over the topic's partitions, ``step`` records a
    partition, so that every replica gets the same share (by key hash, 60 articles once split
    25, 20 and 15 over three replicas)."""
    partitions = sorted(await producer.partitions_for(topic))
    for n, (key, value) in enumerate(records):
        partition = partitions[n // step % len(partitions)]
        await producer.send(topic, value, key=key, partition=partition)
    await producer.flush()


async def translate_backlog(kafka: str, records: list[tuple[bytes, bytes]]) -> float:
    """Send every record at once, spread evenly over the partitions; seconds until each
    article's translations are all out."""
    ids = {key.decode() for key, _ in records}
    listener = AIOKafkaConsumer(
        Topics.TRANSLATED, bootstrap_servers=kafka, auto_offset_reset="latest", group_id=None
    )
    producer = bulk_producer(kafka)
    await listener.start()
    await producer.start()
    try:
        await listener.seek_to_end()
        await listener.getmany(timeout_ms=100)  # positions resolved before the first send
        pending = {(i, lang) for i in ids for lang in TARGETS}
        t0 = time.perf_counter()
        await send_spread(producer, Topics.INGESTED, records)
        async with asyncio.timeout(900):
            while pending:
                batch = await listener.getmany(timeout_ms=200)
                for batch_records in batch.values():
                    for r in batch_records:
                        ident = (r.key or b"").decode()
                        if ident in ids:
                            pending.discard((ident, json.loads(r.value)["language"]))
        return time.perf_counter() - t0
    finally:
        await producer.stop()
        await listener.stop()


async def one_round(
    kafka: str, mongo: str, state: Path, engine: str, replicas: int, args: argparse.Namespace
) -> Round:
    run = uuid.uuid4().hex[:6]
    db = f"bench_scaling_{run}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": db,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),  # engine time per batch
        "LOG_FORMAT": "json",
        **engine_env(engine, args),
    }
    procs = start_replicas(state, env, replicas)
    try:
        await until_stable(kafka, replicas)
        # Warm-up: every replica's connections and code paths, and the group's offsets.
        await translate_backlog(kafka, events(3 * replicas, f"w{run}", first=100_000))
        records = events(args.articles, run)
        pids = {p.name: pid for p in procs if (pid := p.pid())}
        for name in ("kafka", "ferretdb"):
            if pid := stack.Process(name, state).pid():
                pids[name] = pid
        logged = {p.name: p.logfile.stat().st_size for p in procs}
        before = cpu_seconds(pids)
        seconds = await translate_backlog(kafka, records)
        after = cpu_seconds(pids)
        partitions = await partitions_of(kafka, Topics.INGESTED)
        batches = {p.name: translated_batches(p.logfile, logged[p.name]) for p in procs}
    finally:
        for proc in procs:
            proc.stop(timeout=30)
        drop_database(mongo, db)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    engine_seconds = {name: sum(b["engine_seconds"] for b in bs) for name, bs in batches.items()}
    hits = sum(b["memory_hits"] for bs in batches.values() for b in bs)
    return Round(engine, replicas, args.articles, seconds, cpu, partitions, engine_seconds, hits)


def translated_batches(log: Path, offset: int) -> list[dict[str, Any]]:
    """The replica's "translated batch" log records written after ``offset`` (its JSON logs)."""
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == "translated batch":
            out.append(record)
    return out


# --------------------------------------------------------------------------- feeds


def feeds_records(n: int, run: str, first: int = 0) -> dict[str, list[tuple[bytes, bytes]]]:
    """topic -> (key, value) of N articles' events, article by article (each article's
    translations side by side on ``articles.translated``)."""
    records: dict[str, list[tuple[bytes, bytes]]] = {Topics.INGESTED: [], Topics.TRANSLATED: []}
    for doc in articles(n, run, publisher_ids(FEEDS_PUBLISHERS), first):
        for event in feeds_events(doc):
            topic = Topics.INGESTED if isinstance(event, IngestedArticle) else Topics.TRANSLATED
            records[topic].append((event.article_id.encode(), event.model_dump_json().encode()))
    return records


async def skip_to_end(
    kafka: str, groups: tuple[tuple[str, str], ...], within_s: float = 330
) -> None:
    """Commit each (group, topic) at the topic's end: replicas that join next start there, not
    at what earlier rounds (or the translate stage) left on the topics. The broker takes it
    once the group has no members: a replica killed after a timed-out round stays one until
    its session expires, or up to ``max.poll.interval.ms`` (300 s) in a rebalance, so the
    commit is tried again until ``within_s``."""
    ends = await end_offsets(kafka, tuple(topic for _, topic in groups))
    deadline = time.monotonic() + within_s
    coordinator_log = logging.getLogger("aiokafka.consumer.group_coordinator")
    level = coordinator_log.level
    coordinator_log.setLevel(logging.ERROR)  # not a "will rejoin" per try
    try:
        for group, topic in groups:
            await _commit_at(kafka, group, ends, topic, deadline)
    finally:
        coordinator_log.setLevel(level)


async def _commit_at(
    kafka: str, group: str, ends: dict[TopicPartition, int], topic: str, deadline: float
) -> None:
    """Commit ``group``'s offsets of ``topic`` at ``ends``, trying again until ``deadline``
    while the group still has members."""
    offsets = {tp: end for tp, end in ends.items() if tp.topic == topic}
    if not offsets:
        return  # a fresh broker: the topic is made when the replicas start
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        waited = False
        while True:
            try:
                await consumer.commit(offsets)
                return
            except KafkaError as exc:
                if time.monotonic() >= deadline:
                    raise
                if not waited:
                    print(f"  waiting for group {group} to have no members: {exc}", flush=True)
                waited = True
                await asyncio.sleep(1)
    finally:
        await consumer.stop()


async def feeds_backlog(
    kafka: str, records: dict[str, list[tuple[bytes, bytes]]], give_up_s: float
) -> tuple[float, int]:
    """Send every record at once, each article on one partition of each topic, round robin;
    seconds until the feeds groups have committed both topics to their end (or ``give_up_s``),
    and how many of the records they had committed then."""
    n = len(records[Topics.INGESTED])
    marks = await end_offsets(kafka, tuple(records))
    producer = bulk_producer(kafka)
    await producer.start()
    try:
        async with Probe(kafka, marks, n) as probe:
            t0 = time.perf_counter()
            await send_spread(producer, Topics.INGESTED, records[Topics.INGESTED])
            await send_spread(producer, Topics.TRANSLATED, records[Topics.TRANSLATED], len(TARGETS))
            while True:
                snap = await probe.snapshot()
                seconds = time.perf_counter() - t0
                if feeds_done(snap, n) or seconds >= give_up_s:
                    return seconds, sum(snap.handled.get("feeds", {}).values())
                await asyncio.sleep(PROBE_S)
    finally:
        await producer.stop()


def feeds_done(snap: Snapshot, n: int) -> bool:
    """Whether the N articles' events are all on their topics and both feeds groups have
    committed every partition of both topics to its end."""
    return (
        snap.new.get(Topics.INGESTED, 0) >= n
        and snap.new.get(Topics.TRANSLATED, 0) >= len(TARGETS) * n
        and snap.feeds_caught_up
    )


@dataclass
class FeedsRound(Timed):
    replicas: int
    n: int
    seconds: float
    cpu: dict[str, float]
    partitions: int
    stored: dict[str, tuple[int, int]]  # collection -> (documents, expected)
    commands: dict[str, float]  # command -> per article, every replica together
    handled: int  # records the feeds groups had committed when the clock stopped
    round: int = 1

    @property
    def records(self) -> int:
        """The round's records: each article's source event and translations."""
        return self.n * len(LANGUAGES)

    @property
    def timed_out(self) -> bool:
        return self.handled < self.records

    @property
    def complete(self) -> bool:
        stored = all(found == expected for found, expected in self.stored.values())
        return stored and not self.timed_out

    def others(self) -> float:
        """CPU used by processes that are not this benchmark's, in cores."""
        ours = sum(v for k, v in self.cpu.items() if k != MACHINE)
        return max(0.0, self.cpu.get(MACHINE, 0.0) - ours) / self.seconds

    def rate_cell(self) -> str:
        if self.timed_out:
            return (
                f"timed out after {self.seconds:.0f} s, {self.handled:,} of "
                f"{self.records:,} records committed"
            )
        return f"{self.rate:.1f} ({self.seconds:.1f} s)"

    def commands_cell(self) -> str:
        """Database commands per article and documents written per article (inserted or
        updated, failed attempts included), each with the kinds that count most."""
        cells = []
        for written in (False, True):
            counts = {
                k.removeprefix(WRITTEN): v
                for k, v in self.commands.items()
                if k.startswith(WRITTEN) == written
            }
            top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
            detail = ", ".join(f"{name} {n:.1f}" for name, n in top if n > 0)
            cells.append(f"{sum(counts.values()):.1f}" + (f" ({detail})" if detail else ""))
        return "; ".join(cells)


async def feeds_round(
    kafka: str, mongo: str, state: Path, replicas: int, args: argparse.Namespace
) -> FeedsRound:
    run = uuid.uuid4().hex[:6]
    db = f"bench_scaling_{run}"
    env, _ = service_env(kafka, mongo, db)
    await skip_to_end(kafka, FEEDS_GROUPS)
    procs = start_replicas(state, env, replicas, "feeds", FEEDS_REGISTRY)
    try:
        await until_stable(kafka, replicas, groups=FEEDS_GROUPS)
        partitions = await partitions_of(kafka, Topics.INGESTED)
        # Warm-up: an article per partition, so every replica's connections, code paths and
        # the feeds themselves exist before the clock starts.
        warm_up = feeds_records(partitions, f"w{run}", first=100_000)
        if (await feeds_backlog(kafka, warm_up, 180))[1] < len(LANGUAGES) * partitions:
            raise RuntimeError("the feeds did not handle the warm-up articles in 180 s")
        records = feeds_records(args.feeds_articles, run)
        pids = {p.name: pid for p in procs if (pid := p.pid())}
        for name in ("kafka", "ferretdb"):
            if pid := stack.Process(name, state).pid():
                pids[name] = pid
        commands_before, before = await replica_commands(procs), cpu_seconds(pids)
        seconds, handled = await feeds_backlog(kafka, records, args.feeds_timeout)
        after, commands_after = cpu_seconds(pids), await replica_commands(procs)
        stored = count_stored(mongo, db, args.feeds_articles + partitions)
    finally:
        for proc in procs:
            proc.stop(timeout=30)
        drop_database(mongo, db)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    commands = {
        k: (v - commands_before.get(k, 0.0)) / args.feeds_articles
        for k, v in commands_after.items()
    }
    return FeedsRound(
        replicas, args.feeds_articles, seconds, cpu, partitions, stored, commands, handled
    )


async def replica_commands(procs: Sequence[stack.Process]) -> dict[str, float]:
    """Database commands the replicas have sent so far, by command, all replicas together
    (their ``/metrics``)."""
    total: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for proc in procs:
            resp = await client.get(f"http://127.0.0.1:{proc.env['FEEDS_HTTP_PORT']}/metrics")
            resp.raise_for_status()
            for command, n in parse_commands(resp.text).items():
                total[command] = total.get(command, 0.0) + n
    return total


def count_stored(mongo: str, db: str, n: int) -> dict[str, tuple[int, int]]:
    """The feeds' entries and feed log items in the round's database, with how many N
    articles make (each article: an entry per language; an item per feed that carries it)."""
    from pymongo import MongoClient

    from services.feeds.store import ENTRIES, LOG

    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo, retryWrites=False) as client:
        return {
            name: (client[db][name].count_documents({}), n * per_article)
            for name, per_article in ((ENTRIES.name, len(LANGUAGES)), (LOG.name, FEED_ITEMS))
        }


# --------------------------------------------------------------------------- report


def translate_report(
    rounds: list[Round], args: argparse.Namespace, database: str, command: str
) -> str:
    lines = [
        "## Translate scaling: 1 and 3 replicas",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}; Kafka {stack.KAFKA_VERSION} and {database}, local, started by "
        f"the benchmark; every replica on this machine; {time.strftime('%Y-%m-%d')}.  ",
        f"Load: {args.articles} articles at once onto `articles.ingested` (18 paragraphs, every "
        f"sentence unique), each translated into en, ar and ru; `articles.ingested` has "
        f"{rounds[0].partitions if rounds else '?'} partitions.  ",
        f"Engines: `bench-wait` waits {args.wait_ms:g} ms per call plus "
        f"{args.wait_segment_ms:g} ms per segment; `bench-cpu` runs {args.cpu_iterations:,} "
        "loop turns per segment in a thread.",
        "",
        "| engine | replicas | round | articles/s through translate (seconds) "
        "| in engine calls, per replica | CPU (cores): translate replicas, Kafka + FerretDB, "
        "the whole machine |",
        "|---|---|---|---|---|---|",
    ]
    for r in rounds:
        engine_s = ", ".join(f"{s:.1f} s" for _, s in sorted(r.engine_seconds.items()))
        lines.append(
            f"| `{r.engine}` | {r.replicas} | {r.round} | {r.rate:.1f} ({r.seconds:.1f} s) "
            f"| {engine_s} | {r.share(('translate',)):.2f}, "
            f"{r.share(('kafka', 'ferretdb')):.2f}, {r.share((MACHINE,)):.2f} |"
        )
    lines.append("")
    low, high = min(args.replicas), max(args.replicas)
    for engine in args.engines:
        rates = {
            n: statistics.median(r.rate for r in rounds if r.engine == engine and r.replicas == n)
            for n in (low, high)
        }
        lines.append(
            f"Speed-up with `{engine}`, {high} replicas over {low} (median rates, "
            f"{rates[low]:.1f} → {rates[high]:.1f} articles/s): "
            f"**{rates[high] / rates[low]:.2f}×**.  "
        )
    hits = sum(r.memory_hits for r in rounds)
    lines += [
        "",
        f"Translation memory hits over the measured runs: {hits} (every segment went to the "
        'engine). In engine calls: the replicas\' own "translated batch" log records, summed.',
    ]
    return "\n".join(lines) + "\n"


def median_rates(rates: Iterable[tuple[int, float]], low: int, high: int) -> tuple[float, float]:
    """The median rate with ``low`` and with ``high`` replicas, of (replicas, rate) pairs."""
    pairs = list(rates)
    low_rate, high_rate = (statistics.median(r for n, r in pairs if n == k) for k in (low, high))
    return low_rate, high_rate


def feeds_report(
    rounds: list[FeedsRound],
    args: argparse.Namespace,
    database: str,
    command: str,
    translate: Sequence[Round] = (),
) -> str:
    """The feeds part of the section: a row per round, the speed-up, and how the feeds
    stage's rate compares with the fastest translate setting of this run."""
    low, high = min(args.feeds_replicas), max(args.feeds_replicas)
    partitions = rounds[0].partitions if rounds else "?"
    lines = [
        f"## Feeds scaling: {low} and {high} replicas",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}; Kafka {stack.KAFKA_VERSION} and {database}, local, started by "
        f"the benchmark; every replica on this machine; {time.strftime('%Y-%m-%d')}.  ",
        f"Load: {args.feeds_articles:,} articles' events at once, the feeds' real input: each "
        "article's source-language event on `articles.ingested` and its en, ar and ru "
        "translations on `articles.translated` (18 paragraphs, pseudo-translated), an article "
        f"on one partition of each topic, round robin over {partitions} partitions."
        f" Registry: {FEEDS_PUBLISHERS} publishers (fa → en, ar, ru), a network of "
        "them all (en, ar, ru), a partner city following it in en: each article is "
        f"{len(LANGUAGES)} entries and {FEED_ITEMS} feed items. Timed until both feeds groups "
        "had committed both topics to their end (offsets read every "
        f"{PROBE_S:g} s); documents render when read, so no rendering is timed.",
        "",
        "| replicas | round | articles/s through feeds (seconds) | entries, feed items stored "
        "(expected, warm-up included) | per article: database commands; documents written "
        "| CPU (cores): feeds "
        "replicas (each), FerretDB, Kafka, the whole machine (others: not this benchmark's) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rounds:
        stored = ", ".join(f"{found:,} ({expected:,})" for found, expected in r.stored.values())
        each = ", ".join(
            f"{v / r.seconds:.2f}" for k, v in sorted(r.cpu.items()) if k.startswith("feeds")
        )
        lines.append(
            f"| {r.replicas} | {r.round} | {r.rate_cell()} | {stored} "
            f"| {r.commands_cell()} | {r.share(('feeds',)):.2f} ({each}), "
            f"{r.share(('ferretdb',)):.2f}, {r.share(('kafka',)):.2f}, "
            f"{r.share((MACHINE,)):.2f} ({r.others():.2f}) |"
        )
    lines.append("")
    if not rounds:
        return "\n".join(lines) + "\n"
    finished = [r for r in rounds if not r.timed_out]
    missing = [k for k in (low, high) if not any(r.replicas == k for r in finished)]
    if missing:
        lines.append(
            f"Speed-up not measured: every round with {missing[0]} replica(s) timed out "
            f"(`--feeds-timeout {args.feeds_timeout:g}`).  "
        )
        slow = 0.0
    else:
        slow, fast = median_rates(((r.replicas, r.rate) for r in finished), low, high)
        lines.append(
            f"Speed-up, {high} replicas over {low} (median rates, {slow:.1f} → {fast:.1f} "
            f"articles/s): **{fast / slow:.2f}×** (issue 22's goal: at least {FEEDS_GOAL:g}×).  "
        )
    if translate and slow:
        best = max(translate, key=lambda t: t.rate)
        lines.append(
            f"With {low} replica the feeds stage takes {slow / best.rate:.0f}× the articles per "
            f"second of the fastest translate round above ({best.rate:.1f} articles/s, "
            f"`{best.engine}`, {best.replicas} replicas).  "
        )
    if not all(r.complete for r in rounds):
        lines.append(
            "**Some rounds timed out or stored fewer or more documents than expected: see the "
            "table.**"
        )
    return "\n".join(lines) + "\n"


async def translate_rounds(
    kafka: str, mongo: str, state: Path, args: argparse.Namespace
) -> list[Round]:
    rounds: list[Round] = []
    for n in range(args.repeat):
        # alternate the order (1, 3; 3, 1; ...): this machine's speed drifts
        order = args.replicas if n % 2 == 0 else list(reversed(args.replicas))
        for engine, replicas in ((e, r) for e in args.engines for r in order):
            r = await one_round(kafka, mongo, state, engine, replicas, args)
            r.round = n + 1
            print(
                f"{engine}, {replicas} replica(s): {r.rate:.1f} articles/s "
                f"({r.seconds:.1f} s), translate CPU {r.share(('translate',)):.2f} "
                f"cores, in engine calls {sorted(r.engine_seconds.values())}, "
                f"memory hits {r.memory_hits}",
                flush=True,
            )
            rounds.append(r)
    return rounds


async def feeds_rounds(
    kafka: str, mongo: str, state: Path, args: argparse.Namespace
) -> list[FeedsRound]:
    rounds: list[FeedsRound] = []
    for n in range(args.repeat):
        order = args.feeds_replicas if n % 2 == 0 else list(reversed(args.feeds_replicas))
        for replicas in order:
            r = await feeds_round(kafka, mongo, state, replicas, args)
            r.round = n + 1
            stored = ", ".join(f"{k} {f}/{e}" for k, (f, e) in r.stored.items())
            print(
                f"feeds, {replicas} replica(s): {r.rate_cell()} articles/s, "
                f"feeds CPU {r.share(('feeds',)):.2f} cores, FerretDB "
                f"{r.share(('ferretdb',)):.2f}, commands per article {r.commands_cell()}, "
                f"stored {stored}",
                flush=True,
            )
            rounds.append(r)
    return rounds


async def main_async(args: argparse.Namespace) -> int:
    translated: list[Round] = []
    fed: list[FeedsRound] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        state = Path(tmp)
        (state / "registry.yaml").write_text(REGISTRY)
        (state / FEEDS_REGISTRY).write_text(
            registry_yaml(publisher_ids(FEEDS_PUBLISHERS), network=True)
        )
        with infrastructure(state) as (kafka, mongo, database):
            # translate first: the feeds rounds leave events on articles.ingested that the
            # translate group would otherwise read
            if "translate" in args.stages:
                translated = await translate_rounds(kafka, mongo, state, args)
            if "feeds" in args.stages:
                fed = await feeds_rounds(kafka, mongo, state, args)
    command = command_line("scaling", args.from_make)
    parts = []
    if "translate" in args.stages:
        parts.append(translate_report(translated, args, database, command))
    if "feeds" in args.stages:
        parts.append(feeds_report(fed, args, database, command, translated))
    publish("\n".join(parts), "scaling", args.write)
    return 0 if all(r.complete for r in fed) else 1


def stages(value: str) -> list[str]:
    names = [s for s in value.split(",") if s]
    if not names or set(names) - set(STAGES):
        raise argparse.ArgumentTypeError(f"stages: one or more of {', '.join(STAGES)}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stages", type=stages, default=list(STAGES))
    parser.add_argument("--articles", type=int, default=120, help="translate's load")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per setting")
    parser.add_argument("--replicas", type=lambda s: [int(n) for n in s.split(",")], default=[1, 3])
    parser.add_argument(
        "--engines", type=lambda s: s.split(","), default=["bench-wait", "bench-cpu"]
    )
    parser.add_argument("--wait-ms", type=float, default=50.0)
    parser.add_argument("--wait-segment-ms", type=float, default=5.0)
    parser.add_argument("--cpu-iterations", type=int, default=20_000)
    parser.add_argument("--feeds-articles", type=int, default=1000, help="feeds' load")
    parser.add_argument(
        "--feeds-replicas", type=lambda s: [int(n) for n in s.split(",")], default=[1, 2]
    )
    parser.add_argument(
        "--feeds-timeout", type=float, default=180, help="seconds a feeds round may take"
    )
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
