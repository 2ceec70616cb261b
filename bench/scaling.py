"""Translate with 1 and with 3 replicas: the speed-up, for an engine that waits and one that
computes.

    python -m bench.scaling [--articles 120] [--repeat 2] [--replicas 1,3]
                            [--engines bench-wait,bench-cpu] [--wait-ms 50]
                            [--wait-segment-ms 5] [--cpu-iterations 20000] [--write FILE]

The translate service runs as real processes on this machine, 1 and then 3 of them in the same
consumer group, with one of two benchmark engines (``bench/engines.py``, plugged in by import
path; their output is marked and is not a translation):

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
in engine calls, per replica, and confirm that the memory never hit. Kafka and FerretDB are
started on free ports (``deploy/local/stack.py``) unless ``KAFKA_BOOTSTRAP_SERVERS`` and
``MONGODB_URI`` point elsewhere. Replicas are capped by the partitions of ``articles.ingested``
(``TOPIC_PARTITIONS``, default 6): reported with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import command_line, infrastructure, publish, ready
from bench.e2e import MACHINE, cpu_seconds, drop_database, machine, sentence_pool
from bench.engines import IMPORT_PATHS
from deploy.local import stack
from shared.contracts import DateSource, IngestedArticle, Topics

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


@dataclass
class Round:
    engine: str
    replicas: int
    n: int
    seconds: float
    cpu: dict[str, float]
    partitions: int
    engine_seconds: dict[str, float] = field(default_factory=dict)  # per replica
    memory_hits: int = 0
    round: int = 1

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def share(self, names: tuple[str, ...]) -> float:
        """CPU used by these processes over the round, in cores."""
        return sum(v for k, v in self.cpu.items() if k.startswith(names)) / self.seconds


def engine_env(engine: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        "TRANSLATE_ENGINE": IMPORT_PATHS.get(engine, engine),
        "BENCH_WAIT_MS": str(args.wait_ms),
        "BENCH_WAIT_SEGMENT_MS": str(args.wait_segment_ms),
        "BENCH_CPU_ITERATIONS": str(args.cpu_iterations),
    }


def start_replicas(state: Path, env: dict[str, str], replicas: int) -> list[stack.Process]:
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(state / "registry.yaml")],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    procs = []
    for i in range(replicas):
        port = str(stack.free_port())
        proc = stack.service_process("translate", state, {**env, "TRANSLATE_HTTP_PORT": port})
        proc.name = f"translate-{i}"
        proc.start()
        procs.append(proc)
    for i, proc in enumerate(procs):
        port = proc.env["TRANSLATE_HTTP_PORT"]
        url = f"http://127.0.0.1:{port}/readyz"
        stack.wait_until(partial(ready, url), f"translate replica {i}", 90, proc)
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


async def until_stable(kafka: str, replicas: int, within_s: float = 60) -> None:
    """Until the ``translate`` group is Stable with ``replicas`` members holding partitions
    of ``articles.ingested``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    state: tuple[str, int] = ("unknown", 0)
    while loop.time() < deadline:
        state = await group_state(kafka, "translate", Topics.INGESTED)
        if state == ("Stable", replicas):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"translate group not Stable with {replicas} members: {state}")


async def partitions_of(kafka: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # no public API for this
        return len(cluster.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


async def translate_backlog(kafka: str, records: list[tuple[bytes, bytes]]) -> float:
    """Send every record at once, spread evenly over the partitions; seconds until each
    article's translations are all out."""
    ids = {key.decode() for key, _ in records}
    listener = AIOKafkaConsumer(
        Topics.TRANSLATED, bootstrap_servers=kafka, auto_offset_reset="latest", group_id=None
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=10_485_760,
    )
    await listener.start()
    await producer.start()
    try:
        await listener.seek_to_end()
        await listener.getmany(timeout_ms=100)  # positions resolved before the first send
        pending = {(i, lang) for i in ids for lang in TARGETS}
        t0 = time.perf_counter()
        # Round robin over the partitions, so that every replica gets the same share (by key
        # hash, 60 articles once split 25, 20 and 15 over three replicas).
        partitions = sorted(await producer.partitions_for(Topics.INGESTED))
        for n, (key, value) in enumerate(records):
            partition = partitions[n % len(partitions)]
            await producer.send(Topics.INGESTED, value, key=key, partition=partition)
        await producer.flush()
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


def report(rounds: list[Round], args: argparse.Namespace, database: str, command: str) -> str:
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


async def main_async(args: argparse.Namespace) -> int:
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        state = Path(tmp)
        (state / "registry.yaml").write_text(REGISTRY)
        with infrastructure(state) as (kafka, mongo, database):
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
    command = command_line("scaling", args.from_make)
    section = report(rounds, args, database, command)
    publish(section, "scaling", args.write)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--articles", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=2, help="rounds per setting")
    parser.add_argument("--replicas", type=lambda s: [int(n) for n in s.split(",")], default=[1, 3])
    parser.add_argument(
        "--engines", type=lambda s: s.split(","), default=["bench-wait", "bench-cpu"]
    )
    parser.add_argument("--wait-ms", type=float, default=50.0)
    parser.add_argument("--wait-segment-ms", type=float, default=5.0)
    parser.add_argument("--cpu-iterations", type=int, default=20_000)
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
