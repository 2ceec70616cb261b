"""Archive import: ``--articles`` articles submitted at once, until each is in every feed.

    python -m bench.archive [--articles 10000] [--publishers 4] [--timeout 0] [--page-size N]
                            [--probe-s 1] [--save FILE] [--baseline FILE] [--write FILE]

Issue 22's archive import, measured end to end. The system is ``bench.e2e``'s: ingest,
translate (``TRANSLATE_ENGINE=pseudo``: deterministic and instant) and feeds as real processes,
on a Kafka and a FerretDB started here (or those of ``KAFKA_BOOTSTRAP_SERVERS`` and
``MONGODB_URI``), in a fresh database; ``--publishers`` Persian publishers translated into en,
ar and ru, a network of them all (en, ar, ru) and a partner city following the network in en.
A warm-up article per publisher, sent by a plain producer and waited for, has the consumer
groups assigned and the feeds created before the clock starts.

The archive: ``bench.e2e``'s real-sized articles (18 paragraphs, every sentence unique), dated
over the past three years, in one JSON Lines file per publisher, each imported by
``python -m tools.import_archive FILE --publisher P`` (its progress bar is the one on the
terminal), one publisher after the other: the import command is part of what is measured.

Waiting costs the system nothing but a few broker requests: every ``--probe-s`` the consumer
groups' committed offsets are read from the broker, until ``articles.ingested`` holds the N new
articles, ``articles.translated`` the 3N translations, and every ``feeds*`` group has committed
both topics to their end. Then every feed that must carry the articles (publisher feeds in fa,
en, ar and ru, the network's en, ar and ru, the partner's en: 8 entries per article) is read:
all the subscription documents first, then each one's archives (``prev-archive``, RFC 5005),
counting entries missing, duplicated within a document, and found in two documents of one
feed. An archive holds only entries older than its subscription document's, so every entry
found was in its feed by the time the last subscription document was read: that time is when
the feeds were done (at most a probe interval and a read of 20 documents late). Feeds that lack
entries (a render still pending) are read again until the timeout, and are then done at the
read that found them all.

Figures: articles per second end to end (the first record on ``articles.submitted`` to the
feeds done), when each stage had its last article out (Kafka record timestamps on
``articles.submitted``, ``.ingested`` and ``.translated``; the feeds' offsets from the probe;
the entries from the read), CPU per process from the start of the import to the probe's end
(``/proc``; the import processes from ``getrusage``), and database commands per article per
service (each service's ``syndication_db_commands_total`` on ``/metrics``, read after the
warm-up and at the probe's end, before the feeds are read).

Before and after: ``--save FILE`` keeps a run's figures as JSON; ``--baseline FILE`` reports such
a run's figures beside this run's (say, today's code with ``--articles 300``, whose feeds stage
would take hours over 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.common import code_version, infrastructure, publish
from bench.e2e import (
    LANGUAGES,
    MACHINE,
    SERVICES,
    TARGETS,
    Stack,
    article_id,
    articles,
    cpu_seconds,
    drop_database,
    end_offsets,
    load_registry,
    machine,
    publisher_ids,
    registry_yaml,
    send_articles,
    service_env,
)
from deploy.local import stack
from shared.contracts import Topics

ROOT = Path(__file__).resolve().parent.parent
NETWORK, PARTNER = "e2enet", "e2epartner"  # bench.e2e.registry_yaml's
PARTNER_LANGUAGE = "en"
ATOM = "{http://www.w3.org/2005/Atom}"
DB_COMMANDS = "syndication_db_commands_total"
DB_WRITES = "syndication_db_documents_written_total"
WRITTEN = "written:"  # prefix of the documents-written counts among a service's commands
STAGE_TOPICS = (Topics.SUBMITTED, Topics.INGESTED, Topics.TRANSLATED)
ARCHIVE_SPAN = timedelta(days=3 * 365)
GOAL, STRETCH = 50, 100  # articles/s, issue 22
FEEDS_GOAL = 30  # database commands per article in the feeds stage, issue 22


# --------------------------------------------------------------------------- the archive


def write_archive(folder: Path, n: int, run: str, publishers: Sequence[str]) -> dict[str, Path]:
    """One JSON Lines file per publisher with ``n`` articles in all, dated over the past three
    years (oldest first, as an archive is exported); publisher -> file."""
    docs = articles(n, run, publishers)
    start = datetime.now(UTC) - ARCHIVE_SPAN
    files = {p: folder / f"archive-{p}.jsonl" for p in publishers}
    outs = {p: path.open("w", encoding="utf-8") for p, path in files.items()}
    try:
        for i, doc in enumerate(docs):
            doc["published"] = (start + ARCHIVE_SPAN * i / max(n, 1)).isoformat()
            outs[doc["publisher"]].write(json.dumps(doc, ensure_ascii=False) + "\n")
    finally:
        for out in outs.values():
            out.close()
    return files


def archive_ids(files: Mapping[str, Path]) -> dict[str, list[str]]:
    """publisher -> the article ids ingest gives the records of its file."""
    out: dict[str, list[str]] = {}
    for publisher, path in files.items():
        with path.open(encoding="utf-8") as lines:
            out[publisher] = [article_id(json.loads(line)) for line in lines if line.strip()]
    return out


def expected_feeds(ids: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Feed path -> the Atom entry ids it must carry: every language of its publisher's feeds,
    the network's languages, the partner's English (every article has its subject)."""
    from services.feeds.render import entry_id

    feeds: dict[str, set[str]] = {}
    everyone = [a for publisher_ids_ in ids.values() for a in publisher_ids_]
    for publisher, articles_ in ids.items():
        for lang in LANGUAGES:
            feeds[f"/feeds/{publisher}/{lang}.atom"] = {entry_id(a, lang) for a in articles_}
    for lang in TARGETS:
        feeds[f"/networks/{NETWORK}/{lang}.atom"] = {entry_id(a, lang) for a in everyone}
    partner = f"/partners/{PARTNER}/{PARTNER_LANGUAGE}.atom"
    feeds[partner] = {entry_id(a, PARTNER_LANGUAGE) for a in everyone}
    return feeds


# --------------------------------------------------------------------------- the system


def start_system(
    kafka: str, mongo: str, state: Path, args: argparse.Namespace
) -> tuple[Stack, str]:
    """The three services on a fresh database with the benchmark's registry; the partner's
    feed token."""
    db = f"bench_archive_{uuid.uuid4().hex[:8]}"
    env, feeds_url = service_env(kafka, mongo, db)
    if args.page_size:
        env["FEEDS_ENTRIES_PER_FEED"] = str(args.page_size)
    registry = state / "registry.yaml"
    registry.write_text(registry_yaml(publisher_ids(args.publishers), network=True))
    load_registry(registry, mongo, db)
    token_file = state / "partner.token"
    token_command = ["partner-token", "create", PARTNER, "--out", str(token_file)]
    subprocess.run(
        [sys.executable, "-m", "tools.registry", *token_command],
        env={**os.environ, "MONGODB_URI": mongo, "MONGODB_DATABASE": db},
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    system = Stack(state, env, feeds_url)
    try:
        system.start()
    except BaseException:
        system.stop()
        raise
    return system, token_file.read_text().strip()


def page_size(args: argparse.Namespace) -> int:
    if args.page_size:
        return int(args.page_size)
    from services.feeds.settings import FeedsSettings

    return int(FeedsSettings.model_fields["entries_per_feed"].default)


async def db_commands(system: Stack) -> dict[str, dict[str, float]]:
    """service -> command -> commands sent so far, from each service's ``/metrics`` (empty
    for a service that does not count them)."""
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for name in SERVICES:
            port = system.env[f"{name.upper()}_HTTP_PORT"]
            resp = await client.get(f"http://127.0.0.1:{port}/metrics")
            resp.raise_for_status()
            out[name] = parse_commands(resp.text)
    return out


def parse_commands(text: str) -> dict[str, float]:
    """command -> count, summed over the ``service`` label (one process, one service); the
    documents written by each write command as ``written:<command>``."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in (DB_COMMANDS, DB_WRITES):
                name = (WRITTEN if s.name == DB_WRITES else "") + s.labels["command"]
                counts[name] = counts.get(name, 0.0) + s.value
    return counts


# --------------------------------------------------------------------------- waiting


@dataclass
class Snapshot:
    """Records on each topic since the marks, and how far the groups of each service got."""

    new: dict[str, int]  # topic -> records since the marks
    handled: dict[str, dict[str, int]]  # service -> topic -> records committed since the marks
    feeds_caught_up: bool


@dataclass
class Probe:
    """Reads the consumer groups' committed offsets from the broker: cheap enough to ask
    every second, and it costs the services nothing."""

    kafka: str
    marks: dict[TopicPartition, int]  # the topics' end offsets when the load started
    n: int
    admin: AIOKafkaAdminClient = field(init=False)
    consumer: AIOKafkaConsumer = field(init=False)

    async def __aenter__(self) -> Probe:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka, client_id="bench-probe")
        await self.admin.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka, enable_auto_commit=False, client_id="bench-probe"
        )
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def snapshot(self) -> Snapshot:
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(list(self.marks))
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group, *_ in await self.admin.list_consumer_groups():
            if str(group).split("-")[0] in SERVICES:
                offsets = await self.admin.list_consumer_group_offsets(group)
                committed[group] = {tp: o.offset for tp, o in offsets.items() if tp in self.marks}
        return judge(self.marks, ends, committed)

    async def wait(
        self, deadline: float, every: float, label: str, speak: asyncio.Event | None = None
    ) -> tuple[float, Snapshot]:
        """Until the feeds caught up with the n articles (or the deadline): the time then.
        A progress line every 10 s once ``speak`` is set (the import's bar is done)."""
        printed = time.monotonic()
        while True:
            snap = await self.snapshot()
            now = time.time()
            done = (
                snap.new[Topics.INGESTED] >= self.n
                and snap.new[Topics.TRANSLATED] >= len(TARGETS) * self.n
                and snap.feeds_caught_up
            )
            if done or time.monotonic() >= deadline:
                print(progress_line(label, snap, self.n), flush=True)
                return now, snap
            if time.monotonic() - printed >= 10 and (speak is None or speak.is_set()):
                print(progress_line(label, snap, self.n), flush=True)
                printed = time.monotonic()
            await asyncio.sleep(every)


def judge(
    marks: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    committed: Mapping[str, Mapping[TopicPartition, int]],
) -> Snapshot:
    """What the offsets say. The feeds caught up when ``feeds*`` groups have committed on both
    ``articles.ingested`` and ``articles.translated`` (a group that has committed nothing yet
    reads nothing yet, as far as the broker tells), and each, on every partition of a topic
    it has committed on, up to the end (a partition it never committed on counts from the
    mark: records new there are still to do)."""
    new: Counter[str] = Counter()
    for tp, mark in marks.items():
        new[tp.topic] += max(0, ends.get(tp, mark) - mark)
    handled: dict[str, dict[str, int]] = {}
    feeds_topics = {Topics.INGESTED, Topics.TRANSLATED}
    caught_up, covered = True, set()
    for group, offsets in committed.items():
        service = group.split("-")[0]
        topics = {tp.topic for tp in offsets}
        per_topic = handled.setdefault(service, {})
        for tp, mark in marks.items():
            if tp.topic not in topics:
                continue
            done = max(offsets.get(tp, mark), mark)
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + done - mark
            if service == "feeds" and tp.topic in feeds_topics:
                caught_up &= done >= ends.get(tp, mark)
                covered.add(tp.topic)
    return Snapshot(dict(new), handled, caught_up and covered == feeds_topics)


def progress_line(label: str, snap: Snapshot, n: int) -> str:
    feeds = sum(
        v
        for t, v in snap.handled.get("feeds", {}).items()
        if t in (Topics.INGESTED, Topics.TRANSLATED)
    )
    return (
        f"  {label}: submitted {snap.new.get(Topics.SUBMITTED, 0):,}/{n:,}, "
        f"ingested {snap.new.get(Topics.INGESTED, 0):,}, "
        f"translated {snap.new.get(Topics.TRANSLATED, 0):,}/{len(TARGETS) * n:,}, "
        f"feeds handled {feeds:,}/{(1 + len(TARGETS)) * n:,} records"
    )


# --------------------------------------------------------------------------- checking


@dataclass
class Check:
    """What the archives of every feed held: counted against what they must hold."""

    feeds: int = 0
    documents: int = 0
    missing: int = 0
    duplicated: int = 0  # an entry id twice in one document
    in_two_documents: int = 0  # an entry id in two documents of one feed
    lacking: list[str] = field(default_factory=list)  # feeds with entries missing
    read_at: float = 0.0  # time.time() when the last subscription document was read
    seconds: float = 0.0


def entry_ids(atom: bytes) -> tuple[list[str], str | None]:
    """The entries' ids of an Atom document (tombstones are not entries), and its
    ``prev-archive`` link."""
    from lxml import etree  # type: ignore[import-untyped]

    root = etree.fromstring(atom)
    ids = [str(e.findtext(f"{ATOM}id")) for e in root.iterfind(f"{ATOM}entry")]
    prev = next(
        (
            str(link.get("href"))
            for link in root.iterfind(f"{ATOM}link")
            if link.get("rel") == "prev-archive"
        ),
        None,
    )
    return ids, prev


def count_feed(documents: Iterable[list[str]], expected: set[str], check: Check) -> bool:
    """Add one feed's documents (entry ids each) to ``check``; whether it holds every entry."""
    seen: Counter[str] = Counter()
    for ids in documents:
        check.documents += 1
        once = set(ids)
        check.duplicated += len(ids) - len(once)
        seen.update(once)
    check.feeds += 1
    check.in_two_documents += sum(1 for n in seen.values() if n > 1)
    missing = len(expected - seen.keys())
    check.missing += missing
    return missing == 0


async def read_ids(client: httpx.AsyncClient, url: str) -> tuple[list[str], str | None]:
    resp = await client.get(url)
    resp.raise_for_status()
    return entry_ids(resp.content)


async def read_archives(client: httpx.AsyncClient, link: str | None) -> list[list[str]]:
    """Entry ids of the archive ``link`` names, then of each older one (RFC 5005)."""
    documents: list[list[str]] = []
    while link:
        ids, link = await read_ids(client, link)
        documents.append(ids)
    return documents


async def check_feeds(
    feeds_url: str,
    token: str,
    expected: Mapping[str, set[str]],
    at_once: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Check:
    """Every feed in ``expected``: the subscription documents first, all of them (what they
    and their archives hold was in the feeds when the last one was read: ``read_at``; an
    archive holds only entries older than its subscription document's), then the archives
    of each, ``at_once`` feeds at a time."""
    check = Check()
    started = time.perf_counter()
    gate = asyncio.Semaphore(at_once)
    headers = {"Authorization": f"Bearer {token}"}  # the partner's feed; ignored elsewhere
    async with httpx.AsyncClient(timeout=120, headers=headers, transport=transport) as client:

        async def current(path: str) -> tuple[list[str], str | None]:
            async with gate:
                return await read_ids(client, feeds_url + path)

        firsts = await asyncio.gather(*(current(path) for path in expected))
        check.read_at = time.time()

        async def archives(path: str, ids: list[str], prev: str | None) -> None:
            async with gate:
                documents = [ids, *await read_archives(client, prev)]
            if not count_feed(documents, expected[path], check):
                check.lacking.append(path)

        await asyncio.gather(
            *(archives(path, *first) for path, first in zip(expected, firsts, strict=True))
        )
    check.seconds = time.perf_counter() - started
    return check


async def check_until(
    feeds_url: str, token: str, expected: Mapping[str, set[str]], deadline: float
) -> Check:
    """:func:`check_feeds`, and the feeds that lack entries read again until the deadline (a
    render may still be pending when the offsets are committed); ``read_at`` is then that of
    the read that found the last missing entries."""
    check = await check_feeds(feeds_url, token, expected)
    while check.lacking and time.monotonic() < deadline:
        await asyncio.sleep(1)  # the services give no event to await: poll like a reader
        again = await check_feeds(feeds_url, token, {p: expected[p] for p in check.lacking})
        check.documents += again.documents
        check.missing, check.lacking, check.read_at = again.missing, again.lacking, again.read_at
    return check


# --------------------------------------------------------------------------- stage times


async def stage_spans(
    kafka: str, marks: Mapping[TopicPartition, int], ids: set[str]
) -> dict[str, tuple[float, float]]:
    """topic -> (first, last) record timestamp of this run's articles after the marks, read
    after the run so that reading costs the measured system nothing."""
    spans: dict[str, tuple[float, float]] = {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka, enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024
    )
    await consumer.start()
    try:
        partitions = list(marks)
        consumer.assign(partitions)
        for tp, offset in marks.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(600):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batch = await consumer.getmany(*partitions, timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset >= ends[tp] or (r.key or b"").decode() not in ids:
                            continue
                        when = r.timestamp / 1000
                        first, last = spans.get(tp.topic, (when, when))
                        spans[tp.topic] = (min(first, when), max(last, when))
    finally:
        await consumer.stop()
    return spans


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    """One run's figures (``--save`` writes them, ``--baseline`` reads them back)."""

    articles: int
    publishers: int
    command: str
    date: str
    code: str
    setup: str  # machine, database, page size
    seconds: float  # first record on articles.submitted -> every entry in every feed
    window: float  # the seconds over which ``cpu`` was counted
    # stage -> [its first, its last article out] in seconds after the first send (the feeds'
    # first: None, not observed)
    stages: dict[str, list[float | None]]
    cpu: dict[str, float]  # process -> CPU seconds over ``window``
    commands: dict[str, dict[str, float]]  # service -> command -> commands over the run
    missing: int
    duplicated: int
    in_two_documents: int
    documents: int
    timed_out: bool

    @property
    def throughput(self) -> float:
        return self.articles / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def load(cls, path: Path) -> Result:
        return cls(**json.loads(path.read_text("utf-8")))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n")


STAGES = {  # stage -> what its last article out is
    "import": "sent to `articles.submitted`",
    "ingest": "on `articles.ingested`",
    "translate": "on `articles.translated` (en, ar, ru)",
    "committed": "the feeds groups' offsets at the end of both topics",
    "feeds": "in every feed",
}
PROCESSES = ("import", "ingest", "translate", "feeds", "kafka", "ferretdb", "benchmark")
OTHERS = "others"


async def import_archive(files: Mapping[str, Path], kafka: str, state: Path) -> float:
    """``tools.import_archive`` for each publisher's file, its progress bar on this terminal;
    the CPU seconds the imports took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for publisher, path in files.items():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tools.import_archive",
            str(path),
            "--publisher",
            publisher,
            "--bootstrap",
            kafka,
            "--state",
            str(state / f"import-{publisher}.json"),
            cwd=ROOT,
        )
        if await proc.wait() != 0:
            raise RuntimeError(f"tools.import_archive {path} exited with {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def warm_up(kafka: str, publishers: Sequence[str], args: argparse.Namespace) -> None:
    """An article per publisher, sent by a plain producer, until the feeds have handled it:
    the groups are assigned, the feeds exist, the code paths are warm."""
    marks = await end_offsets(kafka, STAGE_TOPICS)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, max_request_size=10_485_760)
    await producer.start()
    try:
        await send_articles(
            producer, articles(len(publishers), f"w{uuid.uuid4().hex[:6]}", publishers), None
        )
    finally:
        await producer.stop()
    async with Probe(kafka, marks, len(publishers)) as probe:
        _, snap = await probe.wait(time.monotonic() + 180, args.probe_s, "warm-up")
    if not snap.feeds_caught_up:
        raise RuntimeError("the warm-up articles did not reach the feeds in 180 s")


@dataclass
class Measured:
    """What :func:`measure` saw, before it is summed up as a :class:`Result`."""

    spans: dict[str, tuple[float, float]]  # topic -> first, last record of this run's articles
    committed: float  # when the probe saw the feeds groups at the end of their topics
    feeds_done: float  # every entry was in every feed by then (the check's ``read_at``)
    caught_up: bool
    cpu: dict[str, float]
    window: float
    commands: dict[str, dict[str, float]]
    check: Check


async def measure(
    system: Stack, token: str, kafka: str, state: Path, args: argparse.Namespace
) -> Measured:
    """Warm up, import the archive, wait for the feeds, check them: the raw figures."""
    publishers = publisher_ids(args.publishers)
    await warm_up(kafka, publishers, args)
    files = write_archive(state, args.articles, uuid.uuid4().hex[:6], publishers)
    ids = archive_ids(files)
    expected = expected_feeds(ids)
    deadline = time.monotonic() + (args.timeout or 120 + args.articles)
    marks = await end_offsets(kafka, STAGE_TOPICS)
    pids = system.pids()
    commands_before, cpu_before = await db_commands(system), cpu_seconds(pids)
    cpu_from = time.monotonic()
    async with Probe(kafka, marks, args.articles) as probe:
        imported = asyncio.Event()
        waiting = asyncio.create_task(probe.wait(deadline, args.probe_s, "waiting", imported))
        try:
            import_cpu = await import_archive(files, kafka, state)
        except BaseException:
            waiting.cancel()
            raise
        imported.set()
        done_at, snap = await waiting
    cpu_after, cpu_window = cpu_seconds(pids), time.monotonic() - cpu_from
    commands_after = await db_commands(system)
    print(f"  reading {len(expected)} feeds through their archives ...", flush=True)
    check = await check_until(system.feeds_url, token, expected, deadline)
    spans = await stage_spans(kafka, marks, {a for v in ids.values() for a in v})
    cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
    cpu["import"] = import_cpu
    commands = {
        s: {c: n - commands_before.get(s, {}).get(c, 0.0) for c, n in per.items()}
        for s, per in commands_after.items()
    }
    return Measured(
        spans=spans,
        committed=done_at,
        feeds_done=check.read_at,
        caught_up=snap.feeds_caught_up and not check.lacking,
        cpu=cpu,
        window=cpu_window,
        commands=commands,
        check=check,
    )


def result_of(m: Measured, args: argparse.Namespace, setup: str, command: str) -> Result:
    spans = m.spans
    first = spans.get(Topics.SUBMITTED, (time.time(), 0.0))[0]
    stages: dict[str, list[float | None]] = {
        stage: [spans[topic][0] - first, spans[topic][1] - first]
        for stage, topic in zip(STAGES, STAGE_TOPICS, strict=False)
        if topic in spans
    }
    seconds = m.feeds_done - first
    stages["committed"] = [None, m.committed - first]
    stages["feeds"] = [None, seconds]
    return Result(
        articles=args.articles,
        publishers=args.publishers,
        command=command,
        date=time.strftime("%Y-%m-%d"),
        code=code_version(),
        setup=setup,
        seconds=seconds,
        window=m.window,
        stages=stages,
        cpu=m.cpu,
        commands=m.commands,
        missing=m.check.missing,
        duplicated=m.check.duplicated,
        in_two_documents=m.check.in_two_documents,
        documents=m.check.documents,
        timed_out=not m.caught_up,
    )


# --------------------------------------------------------------------------- report


def report(run: Result, baseline: Result | None = None) -> str:
    """The benchmarks page's section: this run's figures, a baseline's beside them."""
    runs = [run] if baseline is None else [run, baseline]
    names = ["this run"] if baseline is None else ["this run", "baseline"]
    head = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(runs)
    lines = [
        f"## Archive import: {run.articles:,} articles at once, to every feed",
        "",
        *(
            f"{name.capitalize()}: `{r.command}`, {r.date}, {r.code}; {r.setup}.  "
            for name, r in zip(names, runs, strict=True)
        ),
        f"Registry: {run.publishers} publishers (fa → en, ar, ru), a network of all of them "
        f"(en, ar, ru) and a partner city following it in en: each article makes 8 feed "
        f"entries (its publisher's 4 languages, the network's 3, the partner's 1). Articles: "
        f"18 paragraphs (about 3,100 characters), every sentence unique, one JSON Lines file "
        f"per publisher imported by `python -m tools.import_archive` (one publisher after the "
        f"other), after a warm-up article per publisher.",
        "",
        head,
        row("articles (publishers)", runs, lambda r: f"{r.articles:,} ({r.publishers})"),
        row("end to end: first send → every entry in every feed", runs, end_to_end),
        row(
            "entries missing / twice in one document / in two documents of a feed",
            runs,
            lambda r: (
                f"{r.missing} / {r.duplicated} / {r.in_two_documents} "
                f"(of {8 * r.articles:,}, {r.documents:,} documents read)"
            ),
        ),
        "",
        f"Goal: at least {GOAL} articles/s end to end ({STRETCH} stretched), nothing missing "
        f"or duplicated, read through every feed's archives (RFC 5005 `prev-archive`).",
        "",
        "When each stage had its last article out, after the first send (the articles/s up "
        "to then; the stage's own from its first article out to its last), from Kafka record "
        "timestamps; the feeds' from the consumer groups' offsets, read every second, then "
        "from the feeds' documents:",
        "",
        head,
        *(
            row(f"{stage}: {what}", runs, partial(stage_cell, stage))
            for stage, what in STAGES.items()
        ),
        "",
        "CPU per process over the run (ms per article; share of one core):",
        "",
        head,
        *(row(name, runs, partial(cpu_cell, name)) for name in PROCESSES),
        row("others on the machine, not this benchmark's", runs, partial(cpu_cell, OTHERS)),
        row(f"machine, every process ({os.cpu_count()} cores)", runs, partial(cpu_cell, MACHINE)),
        "",
        f"Database commands per article, by service (`{DB_COMMANDS}` on each service's "
        f"`/metrics`; the commands sent most; goal for feeds: at most {FEEDS_GOAL}):",
        "",
        head,
        *(row(name, runs, partial(commands_cell, name)) for name in SERVICES),
        "",
        f"Documents written per article, by service (`{DB_WRITES}`: the documents inserted, "
        "and the statements of updates, deletes and findAndModify; the database's cost "
        "follows these more than the commands):",
        "",
        head,
        *(row(name, runs, partial(commands_cell, name, prefix=WRITTEN)) for name in SERVICES),
    ]
    return "\n".join(lines) + "\n"


def row(label: str, runs: Sequence[Result], cell: Callable[[Result], str]) -> str:
    return f"| {label} | " + " | ".join(cell(r) for r in runs) + " |"


def end_to_end(r: Result) -> str:
    text = f"**{r.throughput:.1f} articles/s** ({r.seconds:,.1f} s)"
    return text + (" — timed out, not all in the feeds" if r.timed_out else "")


def stage_cell(stage: str, r: Result) -> str:
    """When the stage's last article was out (the pipeline's rate up to then), and the stage's
    own rate, from its first article out to its last."""
    first, last = r.stages.get(stage) or (None, None)
    if last is None or last <= 0:
        return "n/a"
    cell = f"{last:,.1f} s ({r.articles / last:,.1f}/s)"
    if first is not None and last > first:
        cell += f"; {r.articles / (last - first):,.1f}/s from its first"
    return cell


def cpu_cell(name: str, r: Result) -> str:
    used = r.cpu.get(name)
    if name == OTHERS and MACHINE in r.cpu:
        used = max(0.0, r.cpu[MACHINE] - sum(v for k, v in r.cpu.items() if k != MACHINE))
    if used is None or not r.window:
        return "n/a"
    return f"{1000 * used / r.articles:,.1f} ms ({100 * used / r.window:.0f} %)"


def commands_cell(service: str, r: Result, prefix: str = "") -> str:
    """Per article: commands sent (or, with ``prefix`` WRITTEN, documents written), the most
    frequent first."""
    counts = {
        name.removeprefix(prefix): n
        for name, n in r.commands.get(service, {}).items()
        if name.startswith(WRITTEN) == bool(prefix)
    }
    if not counts:
        return "n/a (not counted)"
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    detail = ", ".join(f"{name} {n / r.articles:.1f}" for name, n in top if n > 0)
    return f"{sum(counts.values()) / r.articles:.1f}" + (f" ({detail})" if detail else "")


# --------------------------------------------------------------------------- main


def command_line(args: argparse.Namespace) -> str:
    """What reproduces this run: the make target (with its baseline), or the module."""
    if args.from_make:
        return "make bench-import" + (f" BASELINE={args.baseline}" if args.baseline else "")
    return "python -m bench.archive " + " ".join(sys.argv[1:])


async def main_async(args: argparse.Namespace) -> int:
    baseline = Result.load(args.baseline) if args.baseline else None
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            system, token = start_system(kafka, mongo, state, args)
            try:
                measured = await measure(system, token, kafka, state, args)
            finally:
                system.stop()
                drop_database(mongo, system.env["MONGODB_DATABASE"])
    setup = (
        f"{machine()}; Kafka {stack.KAFKA_VERSION} and {database}, ingest, translate "
        f"(`TRANSLATE_ENGINE=pseudo`) and feeds one process each; "
        f"`FEEDS_ENTRIES_PER_FEED={page_size(args)}`"
    )
    result = result_of(measured, args, setup, command_line(args))
    if args.save:
        result.save(args.save)
    publish(report(result, baseline), "import", args.write)
    return 0 if not result.timed_out and not (result.missing or result.duplicated) else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.archive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--articles", type=int, default=10_000, help="the archive's size")
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="seconds for the whole load (0: 120 + 1 per article)",
    )
    parser.add_argument("--page-size", type=int, help="FEEDS_ENTRIES_PER_FEED (the service's)")
    parser.add_argument("--probe-s", type=float, default=1.0, help="offsets read this often")
    parser.add_argument("--save", type=Path, help="keep this run's figures (JSON)")
    parser.add_argument("--baseline", type=Path, help="a saved run to report beside this one")
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
