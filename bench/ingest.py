"""Ingest throughput through the real topic into the real database, against a raw insert_many.

    python -m bench.ingest [--articles 2000] [--repeat 3] [--replicas 1,2] [--write FILE]

Each round starts from an empty database: the ingest service (a real process) consumes N
real-sized Persian articles from ``articles.submitted``; the clock runs from the first send until
the N-th version is announced on ``articles.ingested`` (ingest announces a version only once it
is stored). The reference, in the same round and the same database, is ``insert_many`` of the
same number of documents shaped like the stored versions, in batches of the consumer's size. The
ratio is ingest's rate over the reference's rate (goal: at least 0.6, issue 22). The ingest
processes are stopped before the reference is measured, so it runs on a quiet machine. Rounds run
with one ingest process, then with two in the same consumer group (each takes half the
partitions). Each round also prints the CPU time per article of the ingest processes and of
FerretDB (from ``/proc``), during ingest and during the reference: where the time goes.

Kafka and FerretDB are started on free ports (``deploy/local/stack.py``) unless
``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` point elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from bench.common import bulk_producer, command_line, infrastructure, publish, ready
from deploy.local import stack
from shared.contracts import Topics

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = ROOT / "tests" / "fixtures" / "samples" / "mashhad-metropolis-secretary-general.txt"
BATCH = 500
GOAL = 0.6  # of the reference's rate (issue 22; 0.5 before)


def articles(n: int, run: str) -> list[dict[str, Any]]:
    """N distinct articles the size of a real one (the Metropolis sample's 18 paragraphs)."""
    lines = [ln.strip() for ln in SAMPLE.read_text().splitlines() if len(ln.strip()) > 80]
    body = "\n\n".join(lines)
    return [
        {
            "publisher": ("mashhad", "tehran", "gorgan")[i % 3],
            "headline": f"{lines[0][:60]} ({run} {i})",
            "body_text": f"{body}\n\nشماره {i}",
            "external_id": f"{run}-{i}",
            "published": "2025-04-29T07:21:53+03:30",
            "subjects": ["Metropolis", "city diplomacy"],
        }
        for i in range(n)
    ]


@dataclass
class Round:
    ingest_s: float
    reference_s: float
    n: int
    replicas: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each part, if known

    @property
    def ratio(self) -> float:
        return self.reference_s / self.ingest_s


async def until_announced(kafka: str, ids: set[str], started: asyncio.Event) -> None:
    """Set ``started`` once listening, then return when every id is announced."""
    consumer = AIOKafkaConsumer(
        Topics.INGESTED, bootstrap_servers=kafka, auto_offset_reset="latest", group_id=None
    )
    await consumer.start()
    try:
        await consumer.seek_to_end()
        started.set()
        pending = set(ids)
        async with asyncio.timeout(600):
            while pending:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        pending.discard(r.key.decode())  # the key is the article id
    finally:
        await consumer.stop()


async def measure_ingest(kafka: str, docs: list[dict[str, Any]], ids: set[str]) -> float:
    producer = bulk_producer(kafka)  # an editor-side producer that batches, as a CMS would
    await producer.start()
    values = [json.dumps(doc, ensure_ascii=False).encode() for doc in docs]
    try:
        ready = asyncio.Event()
        waiter = asyncio.create_task(until_announced(kafka, ids, ready))
        await ready.wait()
        t0 = time.perf_counter()
        for value in values:
            await producer.send(Topics.SUBMITTED, value)
        await producer.flush()
        await waiter  # ingest announces a version only once it is stored
        return time.perf_counter() - t0
    finally:
        await producer.stop()


async def measure_reference(mongo: str, db: str, n: int) -> float:
    """insert_many of N documents shaped like the stored versions, in the consumer's batches."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, retryWrites=False)
    try:
        sample = await client[db]["article_versions"].find_one({})
        assert sample is not None, "ingest stored nothing"
        coll = client[db]["bench_reference"]
        docs = [{**sample, "_id": f"ref-{i}", "article_id": f"ref-{i}"} for i in range(n)]
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            await coll.insert_many(docs[i : i + BATCH], ordered=False)
        return time.perf_counter() - t0
    finally:
        await client.close()


def cpu_seconds(pids: list[int | None]) -> float:
    """User and system CPU time of these processes so far (0 for one that cannot be read)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def database_pid(mongo: str) -> int | None:
    """The FerretDB serving ``mongo`` on this machine (its command line names the port)."""
    listen = f"-listen=127.0.0.1:{mongo.rstrip('/').rsplit(':', 1)[1]}"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if listen.encode() in cmdline.read_bytes().split(b"\0"):
                return int(cmdline.parent.name)
        except OSError:
            continue
    return None


def start_ingest(state: Path, env: dict[str, str], replicas: int) -> list[stack.Process]:
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(ROOT / "deploy/local/registry.yaml")],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    procs = []
    for i in range(replicas):
        port = str(stack.free_port())
        argv = [sys.executable, "-m", "services.ingest"]
        proc = stack.Process(f"ingest-{i}", state, argv, env={**env, "INGEST_HTTP_PORT": port})
        proc.start()
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/readyz"
        stack.wait_until(partial(ready, url), f"ingest replica {i}", 60, proc)
    return procs


async def one_round(kafka: str, mongo: str, state: Path, n: int, replicas: int) -> Round:
    run = uuid.uuid4().hex[:8]
    db = f"bench_{run}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": db,
        "LOG_LEVEL": "WARNING",
    }
    procs = start_ingest(state, env, replicas)
    database = [database_pid(mongo)]
    try:
        warm = articles(20, f"warm{run}")
        await measure_ingest(kafka, warm, {_id(d) for d in warm})
        docs = articles(n, run)
        ingest_pids = [proc.pid() for proc in procs]
        before = cpu_seconds(ingest_pids), cpu_seconds(database)
        ingest_s = await measure_ingest(kafka, docs, {_id(d) for d in docs})
        cpu = {
            "ingest": cpu_seconds(ingest_pids) - before[0],
            "database": cpu_seconds(database) - before[1],
        }
        for proc in procs:  # the reference gets a quiet machine
            proc.stop(timeout=30)
        before_reference = cpu_seconds(database)
        reference_s = await measure_reference(mongo, db, n)
        cpu["reference database"] = cpu_seconds(database) - before_reference
    finally:
        for proc in procs:
            proc.stop(timeout=30)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, retryWrites=False)
        await client.drop_database(db)
        await client.close()
    return Round(ingest_s, reference_s, n, replicas, cpu)


def _id(doc: dict[str, Any]) -> str:
    from services.ingest.text import article_id

    return article_id(doc["publisher"], doc["external_id"], "", "")


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"


def report(rounds: list[Round], repeat: int, database: str, command: str) -> str:
    lines = [
        "## Ingest throughput",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}; Kafka {stack.KAFKA_VERSION} and {database}, "
        f"local, started by the benchmark; {time.strftime('%Y-%m-%d')}.",
        "",
        "| ingest replicas | round | articles | ingest (topic → database → announced) "
        "| raw insert_many | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds):
        lines.append(
            f"| {r.replicas} | {i % repeat + 1} | {r.n} "
            f"| {r.n / r.ingest_s:.0f} articles/s ({r.ingest_s:.2f} s) "
            f"| {r.n / r.reference_s:.0f} docs/s ({r.reference_s:.2f} s) | {r.ratio:.2f} |"
        )
    lines.append("")
    for replicas in sorted({r.replicas for r in rounds}):
        median = statistics.median(r.ratio for r in rounds if r.replicas == replicas)
        lines.append(
            f"Median ratio with {replicas} ingest process{'es' if replicas > 1 else ''}: "
            f"**{median:.2f}** (goal: at least {GOAL}).  "
        )
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            rounds = []
            for replicas in args.replicas:
                for i in range(args.repeat):
                    r = await one_round(kafka, mongo, state, args.articles, replicas)
                    print(
                        f"{replicas} replica(s), round {i + 1}: ingest "
                        f"{r.n / r.ingest_s:.0f} articles/s, insert_many "
                        f"{r.n / r.reference_s:.0f} docs/s, ratio {r.ratio:.2f}; CPU ms per "
                        "article: "
                        + ", ".join(f"{k} {v * 1000 / r.n:.2f}" for k, v in r.cpu.items() if v),
                        flush=True,
                    )
                    rounds.append(r)
    command = command_line("ingest", args.from_make)
    section = report(rounds, args.repeat, database, command)
    publish(section, "ingest", args.write)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--replicas",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[1, 2],
        help="ingest processes in one consumer group, one setting after another (default 1,2)",
    )
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
