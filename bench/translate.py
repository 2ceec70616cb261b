"""Translation throughput of the translate service against CTranslate2 alone, at real model sizes.

    python -m bench.translate [--models opus-mt,m2m100] [--articles 48] [--m2m100-articles 12]
                              [--device cpu|cuda] [--max-decoding-length 48] [--write FILE]

Two random-weight models of the real shapes, built once with ``tools/tiny_models.py``
and kept in ``~/.cache/city-syndication/bench-models/`` (speed does not depend on the values):

* OPUS-MT size: Marian transformer-base, 6+6 layers, d_model 512, 8 heads, ffn 2048, 60,000
  joint vocabulary; fa→en.
* M2M100-418M size: 12+12 layers, d_model 1024, 16 heads, ffn 4096, 128,112 shared vocabulary,
  pre-norm, sinusoidal positions, ReLU; fa→en with its language tokens.

For each model, the same N real-sized Persian articles (headline and 5 to 10 paragraphs of
sentences from ``tests/fixtures/samples``; every segment distinct, so nothing repeats) go:

1. raw: every segment in one ``ctranslate2.Translator.translate_batch`` call, tokenised before
   the clock as the engine tokenises them, with the service's batch size, beam, threads,
   compute type and decoding cap; run before and again after the service (step 2), and
   averaged, because this machine's speed drifts by several percent from minute to minute;
2. service: as ``IngestedArticle`` events onto ``articles.ingested``, through the translate
   service (a real process, ``TRANSLATE_ENGINE=ctranslate2`` with the same settings, a fresh
   database so its translation memory is cold); the clock runs from the first send until the
   N-th ``articles.translated`` event is read back. Ratio = service segments/s over raw
   (goal: at least 0.9);
3. memory hits: the same articles again as version 2, one at a time (latency per article, from
   send to event), then as version 3 all at once (throughput). Every segment is then in the
   translation memory; the service's CPU time per segment shows whether the model ran.

Random weights never emit ``</s>``, so every segment decodes exactly ``--max-decoding-length``
tokens (default 48, about a real sentence's English length); raw and service run under the same
cap (``TRANSLATE_MAX_DECODING_LENGTH``). Kafka and FerretDB are started on free ports
(``deploy/local/stack.py``) unless ``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` point
elsewhere. ``BENCH_LOG_LEVEL=INFO`` keeps the service's log (one "translated batch" line per
pair and Kafka batch, with its engine calls and engine seconds) and prints where.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import html
import importlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.common import (
    bulk_producer,
    code_version,
    command_line,
    cpu_model,
    infrastructure,
    publish,
    ready,
)
from deploy.local import stack
from services.translate.ct2 import ModelManifest
from shared.contracts import DateSource, IngestedArticle, Topics

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = ROOT / "tests" / "fixtures" / "samples"
MODELS_CACHE = stack.CACHE / "bench-models"
SOURCE, TARGET = "fa", "en"
PUBLISHER = "bench"
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
SENTENCE_END = re.compile(r"(?<=[.!?؟…])\s+")


# --------------------------------------------------------------------------- articles


def sentence_pool() -> list[str]:
    """Distinct real sentences: those of the sample articles, then the built-in Persian lines."""
    from tools.tiny_models import PERSIAN_LINES

    pool: list[str] = []
    for path in sorted(SAMPLES.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(line.strip()) > 60:
                pool += [s.strip() for s in SENTENCE_END.split(line.strip())]
    pool += PERSIAN_LINES
    return list(dict.fromkeys(s for s in pool if 40 <= len(s) <= 380))


@dataclass(frozen=True)
class Corpus:
    """N articles whose every segment (headline, paragraphs) is distinct across the whole run.

    Each paragraph is one sentence (a real one, numbered to make it unique), so the segments are
    the same whether the service splits an article into paragraphs or into sentences.
    """

    run: str
    headlines: list[str]
    paragraphs: list[list[str]]

    @classmethod
    def build(cls, n: int, run: str, *, offset: int = 0) -> Corpus:
        from tools.tiny_models import PERSIAN_LINES

        pool = sentence_pool()
        headlines, paragraphs = [], []
        number = offset * 100  # a distinct range of numbers per corpus
        for i in range(n):
            headline = PERSIAN_LINES[i % len(PERSIAN_LINES)].rstrip(".")
            headlines.append(f"{headline} ({_fa(offset + i + 1)})")
            paras = []
            for _ in range(5 + (i * 7) % 6):  # 5 to 10 paragraphs
                number += 1
                paras.append(f"({_fa(number)}) {pool[number % len(pool)]}")
            paragraphs.append(paras)
        corpus = cls(run, headlines, paragraphs)
        segments = [s for article in corpus.segments() for s in article]
        assert len(set(segments)) == len(segments), "segments repeat: the memory would hit"
        return corpus

    def segments(self) -> list[list[str]]:
        """Per article, what the engine is sent: the headline, then each paragraph."""
        return [[h, *p] for h, p in zip(self.headlines, self.paragraphs, strict=True)]

    def article_id(self, i: int) -> str:
        return f"{PUBLISHER}-{self.run}-{i}"

    def events(self, version: int) -> list[bytes]:
        now = datetime.now(UTC)
        out = []
        for i, (headline, paras) in enumerate(zip(self.headlines, self.paragraphs, strict=True)):
            body_text = "\n\n".join(paras)
            article = IngestedArticle(
                article_id=self.article_id(i),
                version=version,
                publisher=PUBLISHER,
                language=SOURCE,
                headline=headline,
                body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paras),
                body_text=body_text,
                subjects=["benchmark"],
                published=now,
                published_source=DateSource.EDITOR,
                content_hash=hashlib.sha256(f"{headline}\n{body_text}".encode()).hexdigest(),
                ingested_at=now,
            )
            out.append(article.model_dump_json().encode())
        return out


def _fa(n: int) -> str:
    return str(n).translate(PERSIAN_DIGITS)


def check_service_segments(corpus: Corpus) -> None:
    """Fail early if the service would split these articles differently from the raw run.

    The service's segmenter is not part of this benchmark's contract (it is read, if present,
    only to keep both sides doing the same work): with a sentence splitter, each of these
    paragraphs must come out as one segment.
    """
    segment = importlib.import_module("services.translate.segment")
    plan: Callable[..., Any] | None = getattr(segment, "segment_article", None)
    if plan is None:
        return
    for i, expected in enumerate(corpus.segments()):
        html_body = "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in expected[1:])
        got = list(plan(expected[0], html_body, plain_segments=True).segments)
        if got != expected:
            raise SystemExit(
                f"article {i}: the service would translate {len(got)} segments, the raw run "
                f"{len(expected)}; fix bench.translate.Corpus so both do the same work"
            )


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class BenchModel:
    key: str
    title: str
    build: Callable[[Path, list[str]], Path]
    params: dict[str, Any]
    articles: int

    def directory(self, vocab_lines: Sequence[str]) -> Path:
        """Where this model is cached: named after everything that goes into building it."""
        import ctranslate2

        builder = ROOT / "tools" / "tiny_models.py"
        material = (
            json.dumps(
                [self.key, self.params, list(vocab_lines), ctranslate2.__version__],
                ensure_ascii=False,
            ).encode()
            + builder.read_bytes()
        )
        return MODELS_CACHE / f"{self.key}-{hashlib.sha256(material).hexdigest()[:12]}"


def _opus_mt(dest: Path, lines: list[str]) -> Path:
    from tools.tiny_models import OPUS_MT_BASE as shape
    from tools.tiny_models import build_tiny_marian

    return build_tiny_marian(
        dest,
        source=SOURCE,
        target=TARGET,
        d_model=shape.d_model,
        layers=shape.layers,
        heads=shape.heads,
        ffn=shape.ffn,
        vocab_lines=lines,
        vocab_size=8000,  # as many pieces as the text supports
        pad_vocab_to=shape.vocab,
        quantization="int8",
    )


def _m2m100(dest: Path, lines: list[str]) -> Path:
    from tools.tiny_models import M2M100_418M as shape
    from tools.tiny_models import build_tiny_m2m100

    return build_tiny_m2m100(
        dest,
        languages=("fa", "en", "ar", "ru"),
        d_model=shape.d_model,
        layers=shape.layers,
        heads=shape.heads,
        ffn=shape.ffn,
        vocab_lines=lines,
        vocab_size=8000,
        pad_vocab_to=shape.vocab,
        quantization="int8",
    )


def bench_models(opus_articles: int, m2m100_articles: int) -> dict[str, BenchModel]:
    from tools.tiny_models import M2M100_418M, OPUS_MT_BASE

    return {
        "opus-mt": BenchModel(
            "opus-mt",
            "OPUS-MT size (Marian 6+6 layers, 512 wide, 60k vocabulary)",
            _opus_mt,
            {"shape": OPUS_MT_BASE.__dict__, "builder": "build_tiny_marian", "q": "int8"},
            opus_articles,
        ),
        "m2m100": BenchModel(
            "m2m100",
            "M2M100-418M size (12+12 layers, 1024 wide, 128k vocabulary)",
            _m2m100,
            {"shape": M2M100_418M.__dict__, "builder": "build_tiny_m2m100", "q": "int8"},
            m2m100_articles,
        ),
    }


def vocab_lines() -> list[str]:
    """What the SentencePiece models are trained on: the benchmark's own text, so that it
    tokenises into pieces of about a real model's length rather than into characters."""
    from tools.tiny_models import ENGLISH_LINES, PERSIAN_LINES

    return [*sentence_pool(), *PERSIAN_LINES, *ENGLISH_LINES]


def ensure_model(model: BenchModel, rebuild: bool) -> Path:
    lines = vocab_lines()
    dest = model.directory(lines)
    if dest.is_dir() and (dest / "cityfeeds-model.json").is_file() and not rebuild:
        return dest
    t0 = time.perf_counter()
    print(f"building the {model.key} model (random weights) into {dest} ...", flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".tmp")
    model.build(staging, lines)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return dest


# --------------------------------------------------------------------------- engine settings


@dataclass(frozen=True)
class EngineSettings:
    """What both the raw run and the service get (the service as TRANSLATE_* variables)."""

    device: str
    compute_type: str
    inter_threads: int
    intra_threads: int
    max_batch_size: int
    beam_size: int
    max_decoding_length: int

    def env(self) -> dict[str, str]:
        return {
            "TRANSLATE_DEVICE": self.device,
            "TRANSLATE_COMPUTE_TYPE": self.compute_type,
            "TRANSLATE_INTER_THREADS": str(self.inter_threads),
            "TRANSLATE_INTRA_THREADS": str(self.intra_threads),
            "TRANSLATE_MAX_BATCH_SIZE": str(self.max_batch_size),
            "TRANSLATE_BEAM_SIZE": str(self.beam_size),
            "TRANSLATE_MAX_DECODING_LENGTH": str(self.max_decoding_length),
        }

    def describe(self) -> str:
        threads = "all cores" if self.intra_threads == 0 else str(self.intra_threads)
        return (
            f"{self.device}, {self.compute_type}, beam {self.beam_size}, batches of at most "
            f"{self.max_batch_size}, inter_threads {self.inter_threads}, intra_threads "
            f"{self.intra_threads} ({threads}), {self.max_decoding_length} tokens per segment"
        )


# --------------------------------------------------------------------------- raw


@dataclass
class Raw:
    """The raw reference, run before and after the service (the machine's speed drifts by
    several percent between runs; the mean of the two brackets the service's run)."""

    segments: int
    tokens: int
    runs: list[float]

    @property
    def seconds(self) -> float:
        return statistics.mean(self.runs)

    @property
    def rate(self) -> float:
        return self.segments / self.seconds

    def describe(self) -> str:
        runs = " and ".join(f"{s:.1f}" for s in self.runs)
        return (
            f"{self.rate:.2f} segments/s, {self.tokens / self.seconds:.0f} target tokens/s "
            f"({runs} s)"
        )


def tokenise(model_dir: Path, segments: Sequence[str]) -> tuple[list[list[str]], Any]:
    """Source tokens and target prefix exactly as ``CTranslate2Engine`` builds them."""
    import sentencepiece

    manifest = ModelManifest.load(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    eos = None if config.get("add_source_eos") else str(config.get("eos_token") or "</s>")
    sp: Any = sentencepiece.SentencePieceProcessor(
        model_file=str(model_dir / manifest.spm_files()[0])
    )
    source_token = manifest.language_token(SOURCE)
    target_token = manifest.language_token(TARGET)
    batch = []
    for text in segments:
        tokens = [str(p) for p in sp.encode(text, out_type=str)]
        if source_token is not None:
            tokens.insert(0, source_token)
        if eos is not None:
            tokens.append(eos)
        batch.append(tokens)
    prefix = None if target_token is None else [[target_token] for _ in segments]
    return batch, prefix


def measure_raw(model_dir: Path, corpus: Corpus, warm: Corpus, settings: EngineSettings) -> Raw:
    """Every segment in one ``translate_batch`` call (CTranslate2 sorts them by length and runs
    batches of ``max_batch_size``): the engine's best case for these segments."""
    import ctranslate2

    translator: Any = ctranslate2.Translator(
        str(model_dir),
        device=settings.device,
        compute_type=settings.compute_type,
        inter_threads=settings.inter_threads,
        intra_threads=settings.intra_threads,
    )
    options = {
        "max_batch_size": settings.max_batch_size,
        "beam_size": settings.beam_size,
        "max_input_length": 1024,  # the engine's
        "max_decoding_length": settings.max_decoding_length,
    }
    try:
        warm_source, warm_prefix = tokenise(model_dir, [s for a in warm.segments() for s in a])
        translator.translate_batch(warm_source, target_prefix=warm_prefix, **options)
        segments = [s for article in corpus.segments() for s in article]
        source, prefix = tokenise(model_dir, segments)
        t0 = time.perf_counter()
        results = translator.translate_batch(source, target_prefix=prefix, **options)
        seconds = time.perf_counter() - t0
        # The forced target-language token comes back first and is not a written token.
        skip = 0 if prefix is None else 1
        tokens = sum(len(r.hypotheses[0]) - skip for r in results)
        return Raw(len(segments), tokens, [seconds])
    finally:
        del translator
        gc.collect()


# --------------------------------------------------------------------------- service


class Listener:
    """Reads ``articles.translated`` (and the DLQ of ``articles.ingested``) from the end, and
    records when each (article id, version) first arrived."""

    def __init__(self, kafka: str) -> None:
        self.consumer = AIOKafkaConsumer(
            Topics.TRANSLATED,
            Topics.dlq(Topics.INGESTED),
            bootstrap_servers=kafka,
            auto_offset_reset="latest",
            group_id=None,
            # A fetch returns as soon as a record arrives, so a long wait loses no precision and
            # spares the broker (it shares the cores with the service).
            fetch_max_wait_ms=500,
            max_partition_fetch_bytes=10 * 1024 * 1024,
        )
        self.arrived: dict[tuple[str, int], float] = {}
        self.dead: list[str] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.seek_to_end()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for tp, records in batch.items():
                for r in records:
                    event = json.loads(r.value)
                    if tp.topic == Topics.TRANSLATED:
                        self.arrived.setdefault((event["article_id"], event["version"]), now)
                    else:
                        self.dead.append(f"{event.get('key')}: {event.get('reason')}")
            if batch:
                self._changed.set()

    async def wait(self, keys: set[tuple[str, int]], within: float, log: Path) -> float:
        """When the last of ``keys`` arrived (waiting at most ``within`` seconds)."""
        async with asyncio.timeout(within):
            while not keys <= self.arrived.keys():
                if self.dead:
                    raise RuntimeError(f"dead-lettered: {self.dead[:3]}; see {log}")
                self._changed.clear()
                await self._changed.wait()
        return max(self.arrived[k] for k in keys)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    segments: int
    seconds: float
    cpu_per_segment: float
    hit_latencies: list[float] = field(default_factory=list)
    hit_burst_seconds: float = 0.0
    hit_cpu_per_segment: float = 0.0

    @property
    def rate(self) -> float:
        return self.segments / self.seconds

    @property
    def hit_rate(self) -> float:
        return self.segments / self.hit_burst_seconds


def start_translate(
    state: Path, env: dict[str, str], model_dir: Path, settings: EngineSettings
) -> stack.Process:
    registry = state / f"registry-{env['MONGODB_DATABASE']}.yaml"
    registry.write_text(
        json.dumps(  # JSON is YAML
            {
                "publishers": {
                    PUBLISHER: {
                        "name": "Translate benchmark",
                        "language": SOURCE,
                        "translate_to": [TARGET],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(registry)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port = str(stack.free_port())
    service_env = {
        **env,
        **settings.env(),
        "TRANSLATE_ENGINE": "ctranslate2",
        "TRANSLATE_MODEL_DIR": str(model_dir),
        "TRANSLATE_HTTP_PORT": port,
    }
    proc = stack.service_process("translate", state, service_env)
    proc.start()
    url = f"http://127.0.0.1:{port}/readyz"
    stack.wait_until(partial(ready, url), "translate", 300, proc)
    return proc


async def send(producer: AIOKafkaProducer, corpus: Corpus, values: list[bytes]) -> None:
    for i, value in enumerate(values):
        await producer.send(Topics.INGESTED, value, key=corpus.article_id(i).encode())
    await producer.flush()


async def measure_service(
    kafka: str,
    mongo: str,
    state: Path,
    model_dir: Path,
    corpus: Corpus,
    warm: Corpus,
    settings: EngineSettings,
    within: float,
) -> Service:
    db = f"bench_translate_{corpus.run}"  # a fresh database: the translation memory is cold
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": db,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    proc = start_translate(state, env, model_dir, settings)
    pid = proc.pid()
    assert pid is not None
    listener = Listener(kafka)
    producer = bulk_producer(kafka, linger_ms=0)
    await producer.start()
    await listener.start()
    n = len(corpus.headlines)
    segments = sum(len(a) for a in corpus.segments())
    try:
        # Warm-up: group join, first model call; distinct text, so the memory stays cold.
        await send(producer, warm, warm.events(1))
        await listener.wait(
            {(warm.article_id(i), 1) for i in range(len(warm.headlines))}, 600, proc.logfile
        )

        values = corpus.events(1)
        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        await send(producer, corpus, values)
        done = await listener.wait(
            {(corpus.article_id(i), 1) for i in range(n)}, within, proc.logfile
        )
        result = Service(segments, done - t0, (cpu_seconds(pid) - cpu0) / segments)

        # Memory hits, one article at a time: latency from send to event.
        cpu0 = cpu_seconds(pid)
        for i, value in enumerate(corpus.events(2)):
            sent = time.perf_counter()
            await producer.send_and_wait(Topics.INGESTED, value, key=corpus.article_id(i).encode())
            arrived = await listener.wait({(corpus.article_id(i), 2)}, 60, proc.logfile)
            result.hit_latencies.append(arrived - sent)
        # Memory hits, all at once: throughput.
        values = corpus.events(3)
        t0 = time.perf_counter()
        await send(producer, corpus, values)
        done = await listener.wait(
            {(corpus.article_id(i), 3) for i in range(n)}, within, proc.logfile
        )
        result.hit_burst_seconds = done - t0
        result.hit_cpu_per_segment = (cpu_seconds(pid) - cpu0) / (2 * segments)
        return result
    finally:
        await listener.stop()
        await producer.stop()
        proc.stop(timeout=30)
        if os.environ.get("BENCH_LOG_LEVEL"):
            kept = Path(tempfile.gettempdir()) / f"bench-translate-{corpus.run}.log"
            shutil.copy(proc.logfile, kept)
            print(f"  service log: {kept}", flush=True)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo, retryWrites=False)
        await client.drop_database(db)
        await client.close()


# --------------------------------------------------------------------------- report


@dataclass
class Result:
    model: BenchModel
    articles: int
    raw: Raw
    service: Service

    @property
    def ratio(self) -> float:
        return self.service.rate / self.raw.rate


def gpu_model() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return out.splitlines()[0] if out else "a CUDA GPU"
    except (OSError, subprocess.SubprocessError):
        return "a CUDA GPU"


def machine(settings: EngineSettings) -> str:
    import ctranslate2

    device = f"on {gpu_model()}" if settings.device == "cuda" else "on the CPU"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}; CTranslate2 {ctranslate2.__version__} {device}"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report(results: list[Result], settings: EngineSettings, database: str, command: str) -> str:
    lines = [
        "## Translate throughput",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine(settings)}; Kafka {stack.KAFKA_VERSION} and {database}, local, "
        f"started by the benchmark; {time.strftime('%Y-%m-%d')}; {code_version()}.  ",
        f"Engine settings, raw and service alike: {settings.describe()}.",
        "",
        "| model (random weights, real shape), fa→en | articles (segments) "
        "| raw `translate_batch`, before and after the service "
        "| service (topic → translate → topic) | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.model.title} | {r.articles} ({r.raw.segments}) "
            f"| {r.raw.describe()} "
            f"| {r.service.rate:.2f} segments/s ({r.service.seconds:.1f} s) | {r.ratio:.2f} |"
        )
    lines += [
        "",
        "Goal: a ratio of at least 0.9.",
        "",
        "Then the same articles again (versions 2 and 3, same text: every segment a memory hit):",
        "",
        "| model | latency per article, one at a time (p50 / p95) | all at once "
        "| service CPU per segment, cold / hits |",
        "|---|---|---|---|",
    ]
    for r in results:
        s = r.service
        q = statistics.quantiles(s.hit_latencies, n=20) if len(s.hit_latencies) > 1 else [0.0]
        lines.append(
            f"| {r.model.key} | {_ms(statistics.median(s.hit_latencies))} / {_ms(q[-1])} "
            f"| {s.hit_rate:.0f} segments/s ({s.hit_rate / r.raw.rate:.0f}× raw; "
            f"{s.hit_burst_seconds:.2f} s) "
            f"| {_ms(s.cpu_per_segment)} / {_ms(s.hit_cpu_per_segment)} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def run_model(
    model: BenchModel,
    kafka: str,
    mongo: str,
    state: Path,
    settings: EngineSettings,
    rebuild: bool,
) -> Result:
    model_dir = ensure_model(model, rebuild)
    run = uuid.uuid4().hex[:8]
    corpus = Corpus.build(model.articles, run)
    warm = Corpus.build(2, f"warm{run}", offset=1000)
    check_service_segments(corpus)
    segments = sum(len(a) for a in corpus.segments())
    print(f"{model.key}: {model.articles} articles, {segments} segments", flush=True)
    raw = measure_raw(model_dir, corpus, warm, settings)
    print(f"  raw, before: {raw.describe()}", flush=True)
    within = 10 * raw.seconds + 300
    service = asyncio.run(
        measure_service(kafka, mongo, state, model_dir, corpus, warm, settings, within)
    )
    after = measure_raw(model_dir, corpus, warm, settings)
    print(f"  raw, after: {after.describe()}", flush=True)
    raw.runs += after.runs
    result = Result(model, model.articles, raw, service)
    print(
        f"  raw, mean: {raw.describe()}\n"
        f"  service: {service.rate:.2f} segments/s ({service.seconds:.1f} s), "
        f"ratio {result.ratio:.2f}; memory hits: p50 "
        f"{_ms(statistics.median(service.hit_latencies))} per article, "
        f"{service.hit_rate:.0f} segments/s all at once; CPU per segment "
        f"{_ms(service.cpu_per_segment)} cold, {_ms(service.hit_cpu_per_segment)} hits",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.translate", description=__doc__)
    parser.add_argument(
        "--models",
        type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
        default=["opus-mt", "m2m100"],
        help="which models, in order (default opus-mt,m2m100)",
    )
    parser.add_argument("--articles", type=int, default=48, help="articles for OPUS-MT size")
    parser.add_argument("--m2m100-articles", type=int, default=12, help="for M2M100-418M size")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--compute-type", help="default: int8 on cpu, int8_float16 on cuda (the service's)"
    )
    parser.add_argument("--beam-size", type=int, default=2, help="default: the service's (2)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="the service's default")
    parser.add_argument("--inter-threads", type=int, default=1, help="the service's default")
    parser.add_argument("--intra-threads", type=int, default=0, help="0: all cores (default)")
    parser.add_argument("--max-decoding-length", type=int, default=48)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached models")
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    models = bench_models(args.articles, args.m2m100_articles)
    unknown = [m for m in args.models if m not in models]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(models)}")
    settings = EngineSettings(
        device=args.device,
        compute_type=args.compute_type or ("int8" if args.device == "cpu" else "int8_float16"),
        inter_threads=args.inter_threads,
        intra_threads=args.intra_threads,
        max_batch_size=args.max_batch_size,
        beam_size=args.beam_size,
        max_decoding_length=args.max_decoding_length,
    )
    for key in args.models:  # build before anything is timed
        ensure_model(models[key], args.rebuild)

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            for key in args.models:
                results.append(run_model(models[key], kafka, mongo, state, settings, False))
    command = command_line("translate", args.from_make)
    section = report(results, settings, database, command)
    publish(section, "translate", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
