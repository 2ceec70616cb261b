"""FerretDB on SQLite against FerretDB on PostgreSQL: the platform's own kinds of work, one run.

    python -m bench.database [--docs 2000] [--seconds 4] [--rounds 3]
                             [--backends sqlite,postgresql] [--write FILE]

Each backend is started fresh by ``deploy/local/stack.py`` (PostgreSQL as a private cluster in a
temporary directory, Debian's package installed when missing) and gets the same workloads, one
client, one request at a time:

* ``insert_many`` of ``--docs`` article-sized documents (``bench.ingest``'s articles) in batches
  of 500, as ingest stores versions;
* ``find_one({_id})`` of random ones of those documents (a head, an entry, an article);
* the conditional upsert of ``services/feeds/store.py``: ``{_id, $or: [{version: {$lt: v}},
  ...]}`` with ``$set`` of an article-sized entry, on a collection of ``--docs`` entries;
* ``insert_one`` of small feed-log items (``_id = feed#seq``);
* ``find_one({_id})`` of a 150 KB rendered feed (``Binary`` body).

Each timed workload runs for ``--seconds`` or its count, whichever ends first; ``--rounds``
rounds alternate the order of the backends (this machine's speed drifts), and the table shows
each figure's median. Besides operations per second, the CPU the database spent per operation:
FerretDB's process, plus PostgreSQL's server processes (the postmaster, its live children and
the children it reaped), read from ``/proc`` before and after; each figure for both backends and
the ratio PostgreSQL / SQLite. Both FerretDBs carry the project's patches for reads by ``_id``
(``FERRETDB_PATCH`` and ``FERRETDB_PG_PATCH`` in ``deploy/local/stack.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import Binary
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from bench.common import code_version, command_line, cpu_model, publish
from bench.ingest import BATCH, articles, machine
from deploy.local import stack

FEED_BYTES = 150 * 1024
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
Doc = dict[str, Any]


@dataclass
class Result:
    """One workload on one backend: operations, wall time, and the database's CPU seconds."""

    ops: int
    seconds: float
    cpu_s: float
    server_cpu_s: float = 0.0  # the part PostgreSQL's processes spent (0 on SQLite)

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.ops


# --------------------------------------------------------------------------- CPU from /proc

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int, reaped: bool = False) -> float:
    """CPU seconds of a process (user + system), and of its reaped children when asked."""
    fields = _stat(pid)  # fields[0] is the state; utime, stime, cutime, cstime are 11..14
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def tree_cpu(pid: int) -> float:
    """A server and its workers: PostgreSQL forks a process per connection and helper."""
    total = process_cpu(pid, reaped=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
                if int(fields[1]) == pid:
                    total += process_cpu(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return total


@dataclass
class Meter:
    """The database's CPU so far: FerretDB, and PostgreSQL's process tree when it has one."""

    ferretdb: int
    postgresql: int | None = None

    def cpu(self) -> tuple[float, float]:
        """(all of it, PostgreSQL's part) in CPU seconds."""
        server = tree_cpu(self.postgresql) if self.postgresql else 0.0
        return process_cpu(self.ferretdb) + server, server


def timed(meter: Meter, op: Callable[[int], int], count: int, seconds: float) -> Result:
    """Call ``op(i)`` (it returns how many operations it did) until ``count`` operations or
    ``seconds`` have passed."""
    (cpu0, server0), t0 = meter.cpu(), time.perf_counter()
    done = calls = 0
    while done < count and time.perf_counter() - t0 < seconds:
        done += op(calls)
        calls += 1
    elapsed = time.perf_counter() - t0
    cpu, server = meter.cpu()
    return Result(done, elapsed, cpu - cpu0, server - server0)


# --------------------------------------------------------------------------- the workloads


def entry(doc: Doc, version: int) -> Doc:
    """An article as a feed entry would store it (the body as HTML)."""
    body = "".join(f"<p>{p}</p>" for p in doc["body_text"].split("\n\n"))
    return {**doc, "body_html": body, "version": version, "revision": 0, "status": "source"}


def workloads(db: Database[Doc], meter: Meter, docs: int, seconds: float) -> dict[str, Result]:
    """Every workload once, in order, on an empty database: name -> result."""
    rng = random.Random(7)
    source = articles(docs, "db")
    versions = [{**d, "_id": f"a-{i}"} for i, d in enumerate(source)]
    results = {}

    def insert_batch(i: int) -> int:
        batch = versions[i * BATCH : (i + 1) * BATCH]
        db.article_versions.insert_many(batch, ordered=False)
        return len(batch)

    results["insert_many (article-sized, batches of 500)"] = timed(
        meter, insert_batch, docs, seconds=3600
    )

    def read(_: int) -> int:
        assert db.article_versions.find_one({"_id": f"a-{rng.randrange(docs)}"}) is not None
        return 1

    results[f"find_one by _id ({docs} article-sized documents)"] = timed(
        meter, read, 5 * docs, seconds
    )

    db.feed_entries.insert_many(
        [{**entry(d, 1), "_id": f"e-{i}"} for i, d in enumerate(source)], ordered=False
    )
    stored = [1] * docs

    def upsert(_: int) -> int:
        i = rng.randrange(docs)
        stored[i] += 1
        conditional_upsert(db, f"e-{i}", entry(source[i], stored[i]))
        return 1

    results[f"conditional upsert by _id ({docs} entries)"] = timed(meter, upsert, docs, seconds)

    def log(i: int) -> int:
        item = {"_id": f"mashhad/fa#{i + 1}", "seq": i + 1, "article_id": f"a-{i}", "lang": "fa"}
        db.feed_log.insert_one(item)
        return 1

    results["insert_one of a feed-log item"] = timed(meter, log, 10 * docs, seconds)
    body = Binary(rng.randbytes(FEED_BYTES))
    db.rendered_feeds.insert_one({"_id": "mashhad/fa.atom", "body": body, "seq": 1})

    def feed(_: int) -> int:
        doc = db.rendered_feeds.find_one({"_id": "mashhad/fa.atom"})
        assert doc is not None and len(doc["body"]) == FEED_BYTES
        return 1

    results["find_one of a 150 KB rendered feed"] = timed(meter, feed, 5 * docs, seconds)
    return results


def conditional_upsert(db: Database[Doc], key: str, doc: Doc) -> bool:
    """services/feeds/store.py's write: only a later (version, revision) replaces an entry."""
    version, revision = doc["version"], doc["revision"]
    try:
        db.feed_entries.update_one(
            {
                "_id": key,
                "$or": [
                    {"version": {"$lt": version}},
                    {"version": version, "revision": {"$lt": revision}},
                ],
            },
            {"$set": doc},
            upsert=True,
        )
    except DuplicateKeyError:
        return False
    return True


# --------------------------------------------------------------------------- one backend


@contextmanager
def started(backend: str) -> Iterator[tuple[str, Meter]]:
    """A fresh FerretDB on ``backend`` (and its PostgreSQL) in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"bench-database-{backend}-") as tmp:
        state = Path(tmp)
        state.chmod(0o755)  # run as root, the server runs as ``postgres``, who must reach it
        try:
            ferretdb = stack.start_database(
                state, backend, port=stack.free_port(), postgresql_port=stack.free_port()
            )
            pid = ferretdb.process.pid()
            assert pid is not None
            postgresql = stack.PostgreSQL(state).process().pid()
            yield ferretdb.uri, Meter(pid, postgresql)
        finally:
            stack.stop_database(state)


def run_backend(backend: str, docs: int, seconds: float) -> dict[str, Result]:
    with started(backend) as (uri, meter):
        client: MongoClient[Doc] = MongoClient(uri, retryWrites=False)
        try:
            return workloads(client["bench"], meter, docs, seconds)
        finally:
            client.close()


# --------------------------------------------------------------------------- the report


Rounds = dict[str, dict[str, list[Result]]]  # backend -> workload -> one result per round


def median_rate(results: list[Result]) -> float:
    return statistics.median(r.rate for r in results)


def median_cpu_ms(results: list[Result]) -> float:
    return statistics.median(r.cpu_ms for r in results)


def report(results: Rounds, rounds: int, command: str) -> str:
    """The markdown section: median ops/s and CPU per op per backend, and PostgreSQL / SQLite."""
    backends = list(results)
    names = [NAMES[b] for b in backends]
    both = len(backends) == 2
    head = ["workload", *(f"{n} ops/s" for n in names)] + (["ratio"] if both else [])
    head += [f"{n} CPU ms/op" for n in names] + (["ratio"] if both else [])
    server = "postgresql" in backends
    head += ["PostgreSQL's part of its CPU"] if server else []
    lines = [
        "## FerretDB on SQLite and on PostgreSQL",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}, {cpu_model()}; FerretDB {stack.FERRETDB_VERSION} "
        f"({', '.join(names)}), one client, started fresh by the benchmark for each of "
        f"{rounds} round(s), medians shown; {code_version()}; {time.strftime('%Y-%m-%d')}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    ratios = []
    for workload in results[backends[0]]:
        rows = [results[b][workload] for b in backends]
        rates, cpus = [median_rate(r) for r in rows], [median_cpu_ms(r) for r in rows]
        cells = [workload, *(f"{r:,.0f}" for r in rates)]
        if both:
            ratios.append(rates[1] / rates[0])
            cells.append(f"{ratios[-1]:.2f}")
        cells += [f"{c:.2f}" for c in cpus] + ([f"{cpus[1] / cpus[0]:.2f}"] if both else [])
        if server:
            part = statistics.median(
                r.server_cpu_s / r.cpu_s for r in results["postgresql"][workload]
            )
            cells.append(f"{part:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "CPU: FerretDB's process, plus PostgreSQL's server processes on PostgreSQL (their part "
        "in the last column; the rest is FerretDB's). Ratios: "
        "PostgreSQL / SQLite (above 1: PostgreSQL does more per second, or costs more CPU per "
        "operation).  ",
    ]
    if ratios:
        lines.append(f"Median ops/s ratio over the workloads: **{statistics.median(ratios):.2f}**.")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.database", description=__doc__)
    parser.add_argument("--docs", type=int, default=2000, help="documents per collection")
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="at most this long per timed workload"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each reverses the previous order"
    )
    parser.add_argument(
        "--backends",
        type=lambda s: [stack.db_backend(b) for b in s.split(",")],
        default=["sqlite", "postgresql"],
        help="backends to measure (default sqlite,postgresql)",
    )
    parser.add_argument("--write", type=Path, help="update this page's bench:database section")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    results: Rounds = {b: {} for b in args.backends}
    for n in range(args.rounds):  # alternated: this machine's speed drifts during a run
        for backend in args.backends if n % 2 == 0 else args.backends[::-1]:
            for workload, r in run_backend(backend, args.docs, args.seconds).items():
                results[backend].setdefault(workload, []).append(r)
                print(
                    f"round {n + 1}, {NAMES[backend]}: {workload}: {r.rate:,.0f} ops/s "
                    f"({r.ops} in {r.seconds:.2f} s), {r.cpu_ms:.2f} ms CPU/op",
                    flush=True,
                )
    command = command_line("database", args.from_make)
    publish(report(results, args.rounds, command), "database", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
