"""Feeds served per second against nginx serving the same bytes, and render time.

    python -m bench.feeds [--entries 50] [--duration 10] [--connections 32] [--threads 2]
                          [--rounds 3] [--parts render,serve] [--servers uvicorn,granian]
                          [--no-install] [--write FILE]

Serving. Kafka and FerretDB are started on free ports (``deploy/local/stack.py``) unless
``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URI`` point elsewhere. One publisher (Persian, with
English translations) is registered in a fresh database, and the feeds service is started as a
real process (``python -m services.feeds``). N Persian articles go onto ``articles.ingested``
and N English translations (machine provenance, subjects, an image) onto
``articles.translated`` once the originals are in their feed; the benchmark waits until
``/feeds/bench/en.atom`` holds all N entries, each linked to its Persian original, and its ETag
has stopped changing. Those exact bytes are written to a temporary directory that nginx (Debian's
package, a child process with its own configuration: ``worker_processes auto``, no access log,
``etag on``) serves under the same path, and the gzip bytes the service sends are written next to
them for ``gzip_static``.

Then ``wrk`` (Debian's package) loads both servers on loopback with the same settings, in
alternated rounds (feeds, nginx; nginx, feeds; ...) because this machine's speed drifts, and the
median of the rounds is taken per server: a plain GET (200), a conditional GET with
``If-None-Match`` carrying each server's own ETag (304), a GET with ``Accept-Encoding: gzip``,
and one with ``Accept-Encoding: br`` when Debian's ``libnginx-mod-http-brotli-static`` lets
nginx serve the service's brotli bytes as a ``.br`` file. Ratio = feeds req/s over nginx req/s
measured in the same rounds (goal, issue 22: at least 0.8 on each kind). The feeds service runs
once per HTTP server of ``--servers`` (``FEEDS_HTTP_SERVER``; the first is the service's
default), the later ones as replicas started once the feed is complete, serving the same stored
documents; every round loads each of them and nginx, in an order that rotates.

Rendering: ``services.feeds.render.render`` on realistic feeds of 50 and 500 entries (Persian
originals; English translations with provenance; subjects, an image, links to the other three
languages), in ms per render per format, the median of repeated renders.

``nginx`` and ``wrk`` are installed with ``apt-get`` when missing (as root, else with ``sudo``),
unless ``--no-install`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
from aiokafka import AIOKafkaProducer
from lxml import etree  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from bench.common import (
    NO_REFUSALS,
    code_version,
    command_line,
    cpu_model,
    infrastructure,
    publish,
    ready,
)
from deploy.local import stack
from services.feeds.render import (
    FORMATS,
    Alternate,
    Entry,
    Feed,
    FeedLinks,
    Image,
    render,
)
from shared.contracts import (
    DateSource,
    IngestedArticle,
    Provenance,
    Topics,
    TranslatedArticle,
)

ROOT = Path(__file__).resolve().parent.parent

PUBLISHER = "bench"
PUBLISHER_NAME = "Bench City Municipality, International Affairs"
FEED_PATH = f"/feeds/{PUBLISHER}/en.atom"
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
PACKAGES = {"nginx": "nginx", "wrk": "wrk"}  # command: Debian package
BROTLI_PACKAGE = "libnginx-mod-http-brotli-static"  # optional: the br row needs it
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
ATOM = "{http://www.w3.org/2005/Atom}"
SUBJECTS = (
    ("Metropolis", "city diplomacy"),
    ("public transport",),
    ("sister cities", "culture"),
    ("city diplomacy", "urban development", "Metropolis"),
)
ENGLISH = (
    "The Secretary General of Metropolis, the World Association of the Major Metropolises, "
    "said that Mashhad appears to be becoming the centre of city diplomacy in Iran.",
    "Speaking at a meeting with the Mayor of Mashhad, Jordi Vaquer added that while every city "
    "in the world is turning to city diplomacy to solve urban problems, Mashhad plays a "
    "particular role in this field.",
    "He said that Mashhad Municipality has recently taken important steps to develop public "
    "transport centred on the holy shrine, which receives millions of pilgrims every year.",
    "Metropolis, an organisation that brings together more than 160 large cities, tries to "
    "connect urban management with the thinking behind it, he said.",
    "The mayor described the city's plans for the next five years: three new metro lines, a "
    "bus rapid transit network reaching the suburbs, and a digital service for visitors in "
    "four languages.",
    "Representatives of sister cities from Turkey, Russia and Iraq attended the session, which "
    "ended with a memorandum on the exchange of experience in managing crowds.",
    "According to the international affairs office of the municipality, the delegation also "
    "visited the new urban railway control centre and the historic bazaar district.",
    "The next meeting of the Metropolis board of directors will be held in the autumn, and "
    "Mashhad has offered to host a regional workshop on city diplomacy before then.",
)
EN_HEADLINES = (
    "Metropolis Secretary General: Mashhad is becoming an international actor",
    "Mashhad unveils four-language Jahanshahr portal for foreign visitors",
    "Gorgan and Guangzhou open a room for economic cooperation",
    "Tehran extends metro line 7 to the northern districts",
)


# --------------------------------------------------------------------------- tools


def find_tool(name: str) -> str | None:
    """A command on PATH, or in the sbin directories a non-root PATH may lack (nginx)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        path = Path(folder) / name
        if os.access(path, os.X_OK):
            return str(path)
    return None


def ensure_tools(install: bool) -> dict[str, str]:
    """Paths of nginx and wrk, installing Debian's packages when one is missing."""
    missing = [name for name in PACKAGES if find_tool(name) is None]
    if missing and install:
        packages = [PACKAGES[name] for name in missing]
        apt = shutil.which("apt-get")
        if apt is None:
            raise SystemExit(
                f"bench-feeds needs {' and '.join(missing)}, and apt-get is not available here: "
                f"install {' and '.join(packages)} with this system's package manager, then run "
                "it again"
            )
        prefix: list[str] = []
        if os.geteuid() != 0:
            sudo = shutil.which("sudo")
            if sudo is None:
                raise SystemExit(
                    f"bench-feeds needs {' and '.join(missing)}: run `apt-get install -y "
                    f"--no-install-recommends {' '.join(packages)}` as root, then run it again"
                )
            prefix = [sudo]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = [*prefix, apt, "install", "-y", "--no-install-recommends", *packages]
        print(f"installing {', '.join(packages)}: {' '.join(command)}", flush=True)
        if subprocess.run(command, env=env).returncode != 0:
            print("apt-get install failed; updating the package lists and trying again")
            subprocess.run([*prefix, apt, "update"], env=env, check=False)
            if subprocess.run(command, env=env).returncode != 0:
                raise SystemExit(f"could not install {' and '.join(packages)} with apt-get")
        missing = [name for name in PACKAGES if find_tool(name) is None]
    if missing:
        raise SystemExit(
            f"bench-feeds needs {' and '.join(missing)} (Debian: apt-get install "
            f"{' '.join(PACKAGES[m] for m in missing)})"
        )
    apt = shutil.which("apt-get")
    if install and not BROTLI_MODULE.exists() and apt is not None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = [apt, "install", "-y", "--no-install-recommends", BROTLI_PACKAGE]
        if subprocess.run(command, env=env, capture_output=True).returncode != 0:
            print(f"{BROTLI_PACKAGE} could not be installed: no brotli row", flush=True)
    return {name: str(find_tool(name)) for name in PACKAGES}


def tool_version(argv: list[str], pattern: str) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


# --------------------------------------------------------------------------- content


def persian_paragraphs() -> list[str]:
    lines: list[str] = []
    for sample in sorted(SAMPLES.glob("*.txt")):
        lines += [ln.strip() for ln in sample.read_text().splitlines() if len(ln.strip()) > 80]
    return lines


@dataclass
class Article:
    """One article: its Persian original and English translation."""

    article_id: str
    fa_headline: str
    fa_paragraphs: list[str]
    en_headline: str
    en_paragraphs: list[str]
    subjects: tuple[str, ...]
    published: datetime
    image: str
    caption: str


def articles(n: int, run: str) -> list[Article]:
    """N articles, 5 to 10 paragraphs each, newest first by a minute each."""
    fa = persian_paragraphs()
    start = datetime(2025, 4, 29, 7, 21, 53, tzinfo=UTC)
    out = []
    for i in range(n):
        count = 5 + i % 6
        out.append(
            Article(
                article_id=f"{PUBLISHER}-{run}-{i}",
                fa_headline=f"{fa[i % len(fa)][:70]} ({i})",
                fa_paragraphs=[fa[(i + k) % len(fa)] for k in range(count)],
                en_headline=f"{EN_HEADLINES[i % len(EN_HEADLINES)]} ({i})",
                en_paragraphs=[ENGLISH[i % len(ENGLISH)], *english(i, count - 1)],
                subjects=SUBJECTS[i % len(SUBJECTS)],
                published=start + timedelta(minutes=i),
                image=f"https://bench.example.org/images/{run}/{i}.jpg",
                caption=f"The Mayor of Mashhad meets the Secretary General of Metropolis ({i})",
            )
        )
    return out


WORDS = sorted({w.strip(".,:").lower() for s in ENGLISH for w in s.split()} - {""})


def english(seed: int, count: int) -> list[str]:
    """``count`` paragraphs of one to three sentences of 10 to 24 words drawn from the sample
    sentences' vocabulary: no two entries alike, so gzip sees text, not a repeated paragraph."""
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(1, 3)):
            words = rng.choices(WORDS, k=rng.randint(10, 24))
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return paragraphs


def _html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def provenance(when: datetime) -> Provenance:
    return Provenance(
        engine="ctranslate2",
        model="opus-mt-fa-en",
        model_version="2024-05-01",
        glossary_version="12",
        translated_at=when,
    )


def events(items: list[Article]) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(key, value) of the ingested originals and of their translations."""
    ingested, translated = [], []
    for a in items:
        body_text = "\n\n".join(a.fa_paragraphs)
        common: dict[str, Any] = {
            "article_id": a.article_id,
            "version": 1,
            "publisher": PUBLISHER,
            "url": f"https://bench.example.org/news/{a.article_id}",
            "subjects": list(a.subjects),
            "images": [{"url": a.image, "caption": a.caption, "media_type": "image/jpeg"}],
            "published": a.published,
        }
        original = IngestedArticle(
            **common,
            language="fa",
            headline=a.fa_headline,
            body_html=_html(a.fa_paragraphs),
            body_text=body_text,
            external_id=a.article_id,
            published_source=DateSource.EDITOR,
            content_hash=hashlib.sha256(body_text.encode()).hexdigest(),
            ingested_at=a.published + timedelta(seconds=5),
        )
        translation = TranslatedArticle(
            **common,
            language="en",
            headline=a.en_headline,
            body_html=_html(a.en_paragraphs),
            source_language="fa",
            provenance=provenance(a.published + timedelta(seconds=30)),
        )
        ingested.append((a.article_id, original.model_dump_json().encode()))
        translated.append((a.article_id, translation.model_dump_json().encode()))
    return ingested, translated


# --------------------------------------------------------------------------- render timing

SITE = "https://feeds.example.org"


def render_feed(n: int, language: str) -> Feed:
    """A publisher feed of N entries in ``language`` (``fa``: originals; ``en``: translations
    with provenance), each linked to the other three languages."""
    items = articles(n, "render")
    entries = []
    for a in reversed(items):  # newest first
        en = language == "en"
        others = [lang for lang in ("fa", "ar", "en", "ru") if lang != language]
        entries.append(
            Entry(
                article_id=a.article_id,
                language=language,
                version=1,
                headline=a.en_headline if en else a.fa_headline,
                body_html=_html(a.en_paragraphs if en else a.fa_paragraphs),
                published=a.published,
                updated=a.published + timedelta(seconds=30 if en else 5),
                publisher=PUBLISHER,
                publisher_name=PUBLISHER_NAME,
                link=f"{SITE}/entries/{a.article_id}/{language}",
                source_url=f"https://bench.example.org/news/{a.article_id}",
                subjects=a.subjects,
                images=(Image(a.image, a.caption, "image/jpeg"),),
                alternates=tuple(
                    Alternate(o, f"{SITE}/entries/{a.article_id}/{o}") for o in others
                ),
                provenance=(
                    provenance(a.published + timedelta(seconds=30)).model_dump(mode="json")
                    if en
                    else None
                ),
            )
        )
    base = f"{SITE}/feeds/{PUBLISHER}/{language}"
    return Feed(
        kind="publisher",
        key=PUBLISHER,
        language=language,
        title=f"{PUBLISHER_NAME} ({language})",
        author=PUBLISHER_NAME,
        links=FeedLinks(
            self_base=base,
            hub=f"{SITE}/websub",
            html=f"{SITE}/feeds",
            prev_archive_base=f"{base}/archive/3",
        ),
        updated=max(e.updated for e in entries),
        entries=tuple(entries),
    )


@dataclass
class RenderTime:
    language: str
    entries: int
    ms: dict[str, float]
    size: dict[str, int]


def time_renders(counts: list[int], budget: float = 1.5) -> list[RenderTime]:
    out = []
    for language in ("en", "fa"):
        for n in counts:
            feed = render_feed(n, language)
            ms: dict[str, float] = {}
            size: dict[str, int] = {}
            for fmt in FORMATS:
                size[fmt] = len(render(feed, fmt))  # also the warm-up
                times: list[float] = []
                started = time.perf_counter()
                while len(times) < 5 or (
                    time.perf_counter() - started < budget and len(times) < 200
                ):
                    t0 = time.perf_counter()
                    render(feed, fmt)
                    times.append(time.perf_counter() - t0)
                ms[fmt] = statistics.median(times) * 1000
            result = RenderTime(language, n, ms, size)
            print(
                f"render {language}, {n} entries: "
                + ", ".join(f"{f} {ms[f]:.1f} ms ({size[f] / 1024:.0f} KB)" for f in FORMATS),
                flush=True,
            )
            out.append(result)
    return out


# --------------------------------------------------------------------------- servers


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and raw body (not decompressed)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def registry_file(state: Path) -> Path:
    path = state / "registry.yaml"
    path.write_text(
        json.dumps(  # JSON is YAML
            {
                "publishers": {
                    PUBLISHER: {
                        "name": PUBLISHER_NAME,
                        "language": "fa",
                        "timezone": "Asia/Tehran",
                        "translate_to": ["en"],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    return path


def start_feeds(
    state: Path, env: dict[str, str], port: int, name: str = "feeds", public_port: int = 0
) -> stack.Process:
    """A feeds process (``name`` tells its state files apart); every process of a run renders
    with the same public URL, so that they render and serve the same bytes."""
    subprocess.run(
        [sys.executable, "-m", "tools.registry", "load", str(registry_file(state))],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    service_env = {
        **env,
        "FEEDS_HTTP_PORT": str(port),
        "FEEDS_PUBLIC_URL": f"http://127.0.0.1:{public_port or port}",
    }
    proc = stack.service_process("feeds", state, service_env)
    if name != "feeds":
        proc = stack.Process(name, state, proc.argv, env=service_env)
    proc.start()
    url = f"http://127.0.0.1:{port}/readyz"
    stack.wait_until(partial(ready, url), "feeds", 120, proc)
    return proc


async def produce(kafka: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, acks="all", linger_ms=5, max_request_size=10_485_760
    )
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def atom_entries(body: bytes) -> list[Any]:
    return list(etree.fromstring(body).findall(f"{ATOM}entry"))


def linked_to_original(entry: Any) -> bool:
    """A translation links to its original; an original's own link is in its language."""
    return any(link.get("hreflang") == "fa" for link in entry.findall(f"{ATOM}link"))


def wait_for_feed(url: str, n: int, proc: stack.Process, timeout: float = 300) -> None:
    """Until the feed holds N entries, each with a Persian link (a translation's: to its
    original), and its ETag has not changed for a second (the service has finished rendering)."""
    deadline = time.monotonic() + timeout
    last, since, seen = "", time.monotonic(), "nothing"
    while time.monotonic() < deadline:
        if proc.pid() is None:
            raise RuntimeError("the feeds service exited")
        status, headers, body = get(url)
        seen = f"status {status}"
        if status == 200:
            entries = atom_entries(body)
            linked = sum(linked_to_original(e) for e in entries)
            seen = f"{len(entries)} entries, {linked} of them linked to the original"
            etag = headers.get("etag", "")
            if len(entries) == n and linked == n:
                if etag == last and time.monotonic() - since >= 1.0:
                    return
                if etag != last:
                    last, since = etag, time.monotonic()
            else:
                last = ""
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not reach {n} linked entries (last seen: {seen})")


NGINX_CONF = """\
{modules}
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{
        application/atom+xml atom;
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types application/atom+xml;
    sendfile on;
    tcp_nopush on;
    etag on;
    gzip_static on;
    {brotli}
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


@dataclass
class Nginx:
    binary: str
    tmp: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self, body: bytes, gzipped: bytes, brotlied: bytes | None = None) -> None:
        """Serve ``body`` as a file, its gzip (and brotli) bytes next to it."""
        # Run as root, nginx's workers drop to an unprivileged user: what they serve must be
        # readable by anyone, and the temporary directories are made private (0700).
        self.tmp.mkdir(mode=0o755, exist_ok=True)
        for folder in (self.tmp.parent, self.tmp):
            folder.chmod(folder.stat().st_mode | 0o111)
        target = self.tmp / "www" / FEED_PATH.lstrip("/")
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.write_bytes(body)
        Path(f"{target}.gz").write_bytes(gzipped)
        if brotlied is not None:
            Path(f"{target}.br").write_bytes(brotlied)
        mtime = target.stat().st_mtime
        for variant in (f"{target}.gz", f"{target}.br"):  # *_static send the file's ETag
            if Path(variant).exists():
                os.utime(variant, (mtime, mtime))
        conf = self.tmp / "nginx.conf"
        brotli = brotlied is not None
        conf.write_text(
            NGINX_CONF.format(
                tmp=self.tmp,
                port=self.port,
                modules=f"load_module {BROTLI_MODULE};" if brotli else "",
                brotli="brotli_static on;" if brotli else "",
            )
        )
        argv = [self.binary, "-c", str(conf), "-p", str(self.tmp), "-g", "daemon off;"]
        log = (self.tmp / "nginx.out").open("wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{self.port}{FEED_PATH}"

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.tmp / 'nginx.out').read_text()}")
            return ready(url)

        stack.wait_until(up, "nginx", 30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    threads: int
    connections: int
    duration: int
    wrk: str

    def describe(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections} -d{self.duration}s"

    def run(self, url: str, headers: dict[str, str], duration: int | None = None) -> float:
        argv = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration or self.duration}s",
        ]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        if bad or (errors and "timeout 0" not in errors.group(1)):
            raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
        match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        if match is None:
            raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
        return float(match.group(1))


@dataclass
class Case:
    """One kind of request, sent to every server."""

    name: str
    feeds_headers: dict[str, str]
    nginx_headers: dict[str, str]
    status: int
    feeds: dict[str, list[float]] = field(default_factory=dict)  # by FEEDS_HTTP_SERVER
    nginx: list[float] = field(default_factory=list)

    def ratio(self, server: str) -> float:
        return statistics.median(self.feeds[server]) / statistics.median(self.nginx)


def check(url: str, headers: dict[str, str], status: int, body: bytes | None) -> None:
    got, _, content = get(url, headers)
    if got != status:
        raise RuntimeError(f"{url} with {headers} answered {got}, not {status}")
    if body is not None and content != body:
        raise RuntimeError(f"{url} with {headers} did not send the expected bytes")


def measure(
    cases: list[Case], feeds_urls: dict[str, str], nginx_url: str, load: Load, rounds: int
) -> None:
    """Each case on each feeds server and on nginx, in rounds whose order rotates."""
    for case in cases:
        targets: list[tuple[str, str, dict[str, str], list[float]]] = [
            (name, url, case.feeds_headers, case.feeds.setdefault(name, []))
            for name, url in feeds_urls.items()
        ]
        targets.append(("nginx", nginx_url, case.nginx_headers, case.nginx))
        for _, url, headers, _ in targets:
            load.run(url, headers, duration=2)  # warm-up
        for i in range(rounds):
            turn = i % len(targets)
            for _, url, headers, results in targets[turn:] + targets[:turn]:
                results.append(load.run(url, headers))
            ratios = ", ".join(
                f"{name} {results[-1]:,.0f} req/s (ratio {results[-1] / case.nginx[-1]:.2f})"
                for name, _, _, results in targets[:-1]
            )
            print(
                f"{case.name}, round {i + 1}: {ratios}, nginx {case.nginx[-1]:,.0f} req/s",
                flush=True,
            )


@dataclass
class Serving:
    cases: list[Case]
    servers: list[str]  # FEEDS_HTTP_SERVER of each feeds process, the default first
    body_bytes: int
    gzip_bytes: int
    brotli_bytes: int | None  # None: nginx cannot serve brotli here, no br row
    entries: int
    load: Load
    database: str
    service_cpu: dict[str, float] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_has_brotli() -> bool:
    return BROTLI_MODULE.exists()


def make_cases(etag: str, nginx_etag: str, brotli: bool) -> list[Case]:
    gzip_header = {"Accept-Encoding": "gzip"}
    cases = [
        Case("GET, 200", {}, {}, 200),
        Case("If-None-Match, 304", {"If-None-Match": etag}, {"If-None-Match": nginx_etag}, 304),
        Case("Accept-Encoding: gzip, 200", gzip_header, gzip_header, 200),
    ]
    if brotli:
        br_header = {"Accept-Encoding": "br"}
        cases.append(Case("Accept-Encoding: br, 200", br_header, br_header, 200))
    return cases


async def fill_feed(
    kafka: str, feeds_url: str, proc: stack.Process, entries: int, run: str
) -> None:
    """N originals, then their translations, until the English feed holds them all."""
    ingested, translated = events(articles(entries, run))
    t0 = time.perf_counter()
    # The originals first, all stored before a translation arrives, so that each translation's
    # first render already links to its original (an original and its translation consumed at
    # the same moment may each miss the other: see the note on the benchmarks page).
    await produce(kafka, Topics.INGESTED, ingested)
    wait_for_feed(feeds_url.replace("/en.atom", "/fa.atom"), entries, proc)
    await produce(kafka, Topics.TRANSLATED, translated)
    wait_for_feed(feeds_url, entries, proc)
    print(
        f"feeds service: {entries} articles and translations in the feed after "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )


def variants(feeds_url: str) -> tuple[dict[str, str], bytes, bytes, bytes]:
    """The service's headers and body, and its gzip and brotli bytes (checked)."""
    _, headers, body = get(feeds_url, {"Accept-Encoding": "identity"})
    _, gz_headers, gzipped = get(feeds_url, {"Accept-Encoding": "gzip"})
    if gz_headers.get("content-encoding") != "gzip" or gzip.decompress(gzipped) != body:
        raise RuntimeError("the feeds service's gzip bytes are not the feed's")
    _, br_headers, brotlied = get(feeds_url, {"Accept-Encoding": "br"})
    if br_headers.get("content-encoding") != "br" or brotli.decompress(brotlied) != body:
        raise RuntimeError("the feeds service's brotli bytes are not the feed's")
    return headers, body, gzipped, brotlied


async def serve_and_load(args: argparse.Namespace, tools: dict[str, str]) -> Serving:
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            db = f"bench_feeds_{run}"
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "MONGODB_URI": mongo,
                "MONGODB_DATABASE": db,
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                "FEEDS_RATE_LIMIT": args.rate_limit,
            }
            servers: list[str] = args.servers
            ports = {server: stack.free_port() for server in servers}
            first = servers[0]
            procs = {first: start_feeds(state, {**env, "FEEDS_HTTP_SERVER": first}, ports[first])}
            proc = procs[first]
            nginx = Nginx(tools["nginx"], state / "nginx", stack.free_port())
            try:
                urls = {
                    server: f"http://127.0.0.1:{ports[server]}{FEED_PATH}" for server in servers
                }
                await fill_feed(kafka, urls[first], proc, args.entries, run)
                for server in servers[1:]:  # replicas of the first, on the same documents
                    procs[server] = start_feeds(
                        state,
                        {**env, "FEEDS_HTTP_SERVER": server},
                        ports[server],
                        f"feeds-{server}",
                        ports[first],
                    )
                headers, body, gzipped, brotlied = variants(urls[first])
                with_br = nginx_has_brotli()
                if not with_br:
                    print(f"no {BROTLI_MODULE}: gzip only against nginx", flush=True)
                nginx.start(body, gzipped, brotlied if with_br else None)
                nginx_url = f"http://127.0.0.1:{nginx.port}{FEED_PATH}"
                _, nginx_headers, _ = get(nginx_url)
                cases = make_cases(headers["etag"], nginx_headers["etag"], with_br)
                want = {"gzip": gzipped, "br": brotlied}
                for case in cases:
                    coding = case.feeds_headers.get("Accept-Encoding") or ""
                    expected = want.get(coding, body if case.status == 200 else b"")
                    for url in (*urls.values(), nginx_url):
                        headers_for = case.nginx_headers if url == nginx_url else case.feeds_headers
                        check(url, headers_for, case.status, expected)
                load = Load(args.threads, args.connections, args.duration, tools["wrk"])
                pids = {server: p.pid() for server, p in procs.items()}
                cpu0 = {server: cpu_seconds(pid) if pid else 0.0 for server, pid in pids.items()}
                measure(cases, urls, nginx_url, load, args.rounds)
                cpu = {s: cpu_seconds(pid) - cpu0[s] if pid else 0.0 for s, pid in pids.items()}
                return Serving(
                    cases, servers, len(body), len(gzipped), len(brotlied) if with_br else None,
                    args.entries, load, database, cpu,
                )  # fmt: skip
            except BaseException:
                kept = Path(tempfile.gettempdir()) / f"bench-feeds-{run}.log"
                if proc.logfile.exists():
                    shutil.copy(proc.logfile, kept)
                    print(f"the feeds service's log: {kept}", flush=True)
                raise
            finally:
                nginx.stop()
                for each in procs.values():
                    each.stop(timeout=30)
                client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                    mongo, retryWrites=False
                )
                await client.drop_database(db)
                await client.close()


# --------------------------------------------------------------------------- report


def http_stack(server: str) -> str:
    """The HTTP server the service ran on: uvicorn and what it picks (httptools and uvloop when
    installed, in the environment the service runs in, which is this one), or Granian
    (embedded in the service's uvloop event loop, shared/service.py)."""
    found = importlib.util.find_spec
    loop = "uvloop" if found("uvloop") else "asyncio"
    if server == "granian":
        return f"Granian {importlib.metadata.version('granian')}, embedded, on {loop}"
    http = "httptools" if found("httptools") else "h11"
    return f"uvicorn {importlib.metadata.version('uvicorn')} with {http} and {loop}"


def _rates(values: list[float]) -> str:
    return f"**{statistics.median(values):,.0f}** ({', '.join(f'{v:,.0f}' for v in values)})"


def _serving_lines(serving: Serving, tools: dict[str, str], settings: dict[str, str]) -> list[str]:
    load = serving.load
    rounds = len(serving.cases[0].nginx)
    setting = ", ".join(f"`{k}={v}`" for k, v in settings.items()) or "defaults"
    infra = (
        f"Kafka {stack.KAFKA_VERSION} and {serving.database} started by the benchmark"
        if serving.database.startswith("FerretDB")
        else "Kafka and MongoDB from the environment"
    )
    wrk = tool_version([tools["wrk"], "-v"], r"wrk (?:debian/)?([0-9.]+)")
    servers = "; ".join(f"{name}: {http_stack(name)}" for name in serving.servers)
    brotli = (
        f", {serving.brotli_bytes / 1024:.0f} KB in brotli"
        if serving.brotli_bytes is not None
        else "; no brotli row: nginx's brotli_static module is not installed"
    )
    lines = [
        f"Servers on loopback, loaded by wrk {wrk} "
        f"(`{load.describe()}`), in rounds whose order rotates; median of {rounds} "
        "rounds in bold, each round in brackets. The feeds service: one process per HTTP server, "
        f"replicas on the same documents (`python -m services.feeds`, `FEEDS_HTTP_SERVER`: "
        f"{servers}; settings: "
        f"{setting}); {infra}. nginx "
        f"{tool_version([tools['nginx'], '-v'], r'nginx/([0-9.]+)')} (Debian's package): "
        "`worker_processes auto`, no access log, `etag on`, `sendfile on`, `gzip_static on`"
        + (", `brotli_static on`." if serving.brotli_bytes is not None else "."),
        "",
        f"Document: `{FEED_PATH}`, {serving.entries} entries, "
        f"{serving.body_bytes / 1024:.0f} KB ({serving.gzip_bytes / 1024:.0f} KB gzipped"
        f"{brotli}); nginx serves the very bytes the service sent, as a file (and its "
        "compressed bytes as the `.gz` and `.br` files next to it).",
        "",
        "| request | "
        + " | ".join(f"feeds on {name}, req/s (ratio)" for name in serving.servers)
        + " | nginx, req/s |",
        "|---|" + "---|" * (len(serving.servers) + 1),
    ]
    for case in serving.cases:
        cells = " | ".join(
            f"{_rates(case.feeds[name])} ({case.ratio(name):.2f})" for name in serving.servers
        )
        lines.append(f"| {case.name} | {cells} | {_rates(case.nginx)} |")
    default = serving.servers[0]
    ratios = ", ".join(f"{c.ratio(default):.2f}" for c in serving.cases)
    cpu = ", ".join(f"{name} {serving.service_cpu.get(name, 0):.0f} s" for name in serving.servers)
    lines += [
        "",
        f"Goal (issue 22): at least 0.8 of nginx on each request; here, on {default} (the "
        f"default): **{ratios}**. CPU time of each feeds process over the whole load: {cpu}.",
        "",
    ]
    return lines


def report(
    serving: Serving | None,
    renders: list[RenderTime],
    tools: dict[str, str],
    command: str,
    settings: dict[str, str],
) -> str:
    lines = [
        "## Feeds: requests per second against nginx, and render time",
        "",
        f"Command: `{command}`  ",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; {code_version()}.  ",
    ]
    if serving is not None:
        lines += _serving_lines(serving, tools, settings)
    if renders:
        lines += [
            "Render time (`services.feeds.render.render`, in this process, median of repeated "
            "renders), ms per render, document size in brackets:",
            "",
            "| feed | entries | " + " | ".join(FORMATS) + " |",
            "|---|---|" + "---|" * len(FORMATS),
        ]
        for r in renders:
            what = (
                "English (translations, provenance)"
                if r.language == "en"
                else "Persian (originals)"
            )
            cells = " | ".join(f"{r.ms[f]:.1f} ms ({r.size[f] / 1024:.0f} KB)" for f in FORMATS)
            lines.append(f"| {what} | {r.entries} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feeds", description=__doc__)
    parser.add_argument("--entries", type=int, default=50, help="entries in the served feed")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per server")
    parser.add_argument(
        "--render-entries",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[50, 500],
        help="feed sizes to time the renderer on (default 50,500)",
    )
    parser.add_argument(
        "--parts",
        type=lambda s: [p.strip() for p in s.split(",") if p.strip()],
        default=["render", "serve"],
        help="render, serve or both (default)",
    )
    parser.add_argument(
        "--rate-limit",
        default=NO_REFUSALS,
        help="FEEDS_RATE_LIMIT of the service (default: the limiter runs, never refuses; "
        "'off' to measure without it)",
    )
    parser.add_argument(
        "--servers",
        type=lambda v: [p.strip() for p in v.split(",") if p.strip()],
        default=["uvicorn", "granian"],
        help="FEEDS_HTTP_SERVER values to measure in turn, the default first "
        "(default uvicorn,granian)",
    )
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    tools = ensure_tools(not args.no_install) if "serve" in args.parts else {}
    renders = time_renders(args.render_entries) if "render" in args.parts else []
    serving = asyncio.run(serve_and_load(args, tools)) if "serve" in args.parts else None
    command = command_line("feeds", args.from_make)
    settings = {
        k: v for k, v in sorted(os.environ.items()) if k.startswith(("FEEDS_", "OTEL_", "UVICORN_"))
    }
    section = report(serving, renders, tools, command, settings)
    publish(section, "feeds", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
