"""The WebSub hub under an anonymous flood (issue 18, finding 2): does a real partner still get
verified and served, and does the service stay responsive?

    python -m bench.websub_flood [--pending 300] [--pending-hosts 60] [--hangers 40]
                                 [--hangers-one-host 100] [--pings 50] [--rounds 3]
                                 [--give-up 150] [--write docs/reliability.md]

Kafka and FerretDB are started on free ports unless ``KAFKA_BOOTSTRAP_SERVERS`` and
``MONGODB_URI`` are set; the feeds service runs as a real process with
``FEEDS_WEBSUB_ALLOW_NETWORKS=127.0.0.0/8`` (every callback here is on loopback: distinct hosts
are distinct addresses, 127.0.1.x for the verification flood, 127.0.2.x for the hanging
subscribers, 127.0.0.1 for the partner). Phases, each measured while ``/healthz`` is polled
from a thread every 100 ms:

1. baseline: the partner subscribes to ``/feeds/bench/fa.atom``; the time until its
   verification arrives; then ``--rounds`` articles, each produced to Kafka and timed until the
   partner receives the feed carrying it;
2. verification flood: ``--pending`` subscribe requests whose callbacks (on ``--pending-hosts``
   hosts) accept the connection and never answer, then the partner subscribes again (a new
   callback URL): the time until its verification arrives, and the flood's answers by status;
3. hanging subscribers: ``--hangers`` hosts (and ``--hangers-one-host`` callbacks on one more
   host) answer verification and then never answer a delivery; ``--rounds`` more articles, each
   timed until the partner has it;
4. publish pings: ``--pings`` anonymous ``hub.mode=publish`` pings for the unchanged feed; the
   deliveries (and bytes) they caused, counted once the hub has been idle for a second.

A wait that exceeds ``--give-up`` seconds is reported as more than that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from bench.common import (
    NO_REFUSALS,
    code_version,
    command_line,
    cpu_model,
    infrastructure,
    publish,
)
from bench.feeds import PUBLISHER, articles, events, produce, start_feeds
from deploy.local import stack
from shared.contracts import Topics

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Callbacks:
    """HTTP callbacks on loopback, one server per address. ``partner`` answers everything;
    ``trap`` answers verification and never a delivery; ``hang`` never answers anything (the
    connections are held until ``release``)."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    release_flood: asyncio.Event = field(default_factory=asyncio.Event)  # the "hang" ones
    partner_gets: list[tuple[float, str]] = field(default_factory=list)
    partner_posts: list[tuple[float, bytes]] = field(default_factory=list)
    trap_gets: int = 0
    held: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    servers: list[asyncio.Server] = field(default_factory=list)

    async def start(self, host: str, mode: str) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._handle(reader, writer, mode)

        server = await asyncio.start_server(handle, host, 0)
        self.servers.append(server)
        return f"http://{host}:{server.sockets[0].getsockname()[1]}"

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mode: str
    ) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            length = next(
                (int(h.split(":", 1)[1]) for h in head.split("\r\n")
                 if h.lower().startswith("content-length:")),
                0,
            )  # fmt: skip
            body = await reader.readexactly(length)
            if mode == "hang":
                await self.release_flood.wait()
                return
            if mode == "trap" and method == "POST":
                self.held += 1
                await self.release.wait()
                return
            answer = b""
            if method == "GET":
                challenge = dict(parse_qsl(urlsplit(target).query)).get("hub.challenge", "")
                answer = challenge.encode()
                if mode == "trap":
                    self.trap_gets += 1
                else:
                    self.partner_gets.append((time.perf_counter(), target))
            else:
                self.partner_posts.append((time.perf_counter(), body))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            ValueError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()
            self.changed.set()

    async def until(self, done: object, give_up: float) -> bool:
        """Wait until ``done()`` holds; False after ``give_up`` seconds."""
        assert callable(done)
        try:
            async with asyncio.timeout(give_up):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self.release.set()
        self.release_flood.set()
        for server in self.servers:
            server.close()


class Health:
    """``/healthz`` latency, polled from a thread (not this event loop) and kept per phase."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.phase = "baseline"
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as resp:
                    resp.read()
                took = time.perf_counter() - t0
            except OSError:
                took = float("inf")
            self.samples.setdefault(self.phase, []).append(took)
            self._stop.wait(0.1)

    def __enter__(self) -> Health:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=35)

    def line(self, phase: str) -> str:
        got = sorted(self.samples.get(phase, []))
        if not got:
            return "no samples"
        p50 = statistics.median(got) * 1000
        p99 = got[min(len(got) - 1, int(len(got) * 0.99))] * 1000
        return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {got[-1] * 1000:.0f} ms ({len(got)})"


def seconds(value: float | None, give_up: float) -> str:
    return f"> {give_up:.0f} s" if value is None else f"{value:.2f} s"


@dataclass
class Run:
    args: argparse.Namespace
    hub: str
    topic: str
    kafka: str
    http: httpx.AsyncClient
    cb: Callbacks
    partner: str
    results: dict[str, str] = field(default_factory=dict)
    refused: int = 0  # the partner's subscribe requests refused as "hub full"

    async def subscribe(self, callback: str) -> int:
        form = {"hub.mode": "subscribe", "hub.topic": self.topic, "hub.callback": callback}
        return (await self.http.post(self.hub, data=form)).status_code

    async def partner_verification(self, callback: str) -> float | None:
        """Seconds from the first subscribe request until the verification arrives; a refusal
        (429, 503: the hub is full) is retried every second, as a partner would."""
        before = len(self.cb.partner_gets)
        t0 = time.perf_counter()
        while (status := await self.subscribe(callback)) in (429, 503):
            self.refused += 1
            if time.perf_counter() - t0 > self.args.give_up:
                return None
            await asyncio.sleep(1)
        assert status == 202, status
        if not await self.cb.until(lambda: len(self.cb.partner_gets) > before, self.args.give_up):
            return None
        return self.cb.partner_gets[before][0] - t0

    async def delivery(self, tag: str) -> float | None:
        """Produce one article; seconds until the partner has a feed carrying it."""
        item = articles(1, tag)[0]
        ingested, _ = events([item])
        key = item.article_id.encode()
        t0 = time.perf_counter()
        await produce(self.kafka, Topics.INGESTED, ingested)
        ok = await self.cb.until(
            lambda: any(key in body for _, body in self.cb.partner_posts), self.args.give_up
        )
        if not ok:
            return None
        return next(t for t, body in self.cb.partner_posts if key in body) - t0

    async def deliveries(self, phase: str) -> None:
        took = [
            await self.delivery(f"{phase.replace(' ', '-')}-{uuid.uuid4().hex[:6]}")
            for _ in range(self.args.rounds)
        ]
        shown = ", ".join(seconds(t, self.args.give_up) for t in took)
        self.results[f"{phase}: partner delivery after the article is produced"] = shown


async def flood_verifications(run: Run) -> None:
    args, cb = run.args, run.cb
    hosts = [await cb.start(f"127.0.1.{i + 1}", "hang") for i in range(args.pending_hosts)]
    codes = Counter(
        await asyncio.gather(
            *(run.subscribe(f"{hosts[i % len(hosts)]}/flood/{i}") for i in range(args.pending))
        )
    )
    took = await run.partner_verification(f"{run.partner}/cb/after-flood")
    run.results["verification flood: answers to the flood"] = ", ".join(
        f"{n}× {code}" for code, n in sorted(codes.items())
    )
    run.results["verification flood: partner verified after"] = (
        seconds(took, args.give_up) + f" ({run.refused} of its requests refused first)"
    )
    cb.release_flood.set()  # the next phase starts without them


async def hanging_subscribers(run: Run) -> None:
    args, cb = run.args, run.cb
    traps = [await cb.start(f"127.0.2.{i + 1}", "trap") for i in range(args.hangers)]
    many = await cb.start("127.0.3.1", "trap")
    callbacks = [f"{t}/trap" for t in traps] + [
        f"{many}/trap/{i}" for i in range(args.hangers_one_host)
    ]
    codes = Counter([await run.subscribe(c) for c in callbacks])
    accepted = codes.get(202, 0)
    await cb.until(lambda: cb.trap_gets >= accepted, args.give_up)
    run.results["hanging subscribers: verified"] = (
        f"{cb.trap_gets} of {len(callbacks)} (answers: {dict(codes)})"
    )
    await run.deliveries("hanging subscribers")


async def quiet(run: Run, seconds: float) -> None:
    """Until ``seconds`` pass with no request reaching the partner or a hanging subscriber (or
    ``--give-up`` seconds in all)."""
    deadline = time.perf_counter() + run.args.give_up
    while time.perf_counter() < deadline:
        seen = (len(run.cb.partner_posts), run.cb.held)
        moved = lambda seen=seen: (len(run.cb.partner_posts), run.cb.held) != seen  # noqa: E731
        if not await run.cb.until(moved, seconds):
            return


async def pings(run: Run) -> None:
    """The hanging subscribers let go first (their requests end at once from now on), so the
    hub is idle when the pings come; then only the partner's deliveries are counted."""
    run.cb.release.set()
    await quiet(run, 3.0)
    before = len(run.cb.partner_posts)
    form = {"hub.mode": "publish", "hub.url": run.topic}
    codes = Counter(
        [(await run.http.post(run.hub, data=form)).status_code for _ in range(run.args.pings)]
    )
    await quiet(run, 2.0)
    posts = run.cb.partner_posts[before:]
    run.results[f"{run.args.pings} publish pings on an unchanged feed"] = (
        f"answers {dict(codes)}; {len(posts)} deliveries to the partner's 2 subscriptions "
        f"({sum(len(b) for _, b in posts) / 1e6:.2f} MB)"
    )


async def measure(args: argparse.Namespace, base: str, kafka: str, health: Health) -> Run:
    cb = Callbacks()
    partner = await cb.start("127.0.0.1", "partner")
    async with httpx.AsyncClient(timeout=60) as http:
        topic = f"{base}/feeds/{PUBLISHER}/fa.atom"
        run = Run(args, f"{base}/websub", topic, kafka, http, cb, partner)
        took = await run.partner_verification(f"{partner}/cb/baseline")
        run.results["baseline: partner verified after"] = seconds(took, args.give_up)
        await run.deliveries("baseline")
        health.phase = "verification flood"
        await flood_verifications(run)
        health.phase = "hanging subscribers"
        await hanging_subscribers(run)
        health.phase = "publish pings"
        await pings(run)
        health.phase = "done"
        await cb.stop()
    return run


def report(run: Run, health: Health, command: str, machine: str) -> str:
    lines = [
        "### WebSub flood (issue 18)",
        "",
        f"`{command}` on {machine}.",
        "",
        "| measured | result |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in run.results.items()),
        *(
            f"| `/healthz` during {phase} | {health.line(phase)} |"
            for phase in ("baseline", "verification flood", "hanging subscribers", "publish pings")
        ),
        "",
    ]
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> tuple[Run, Health, str]:
    with tempfile.TemporaryDirectory(prefix="bench-websub-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "MONGODB_URI": mongo,
                "MONGODB_DATABASE": f"bench_websub_{uuid.uuid4().hex[:8]}",
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                "FEEDS_RATE_LIMIT": NO_REFUSALS,
                "FEEDS_WEBSUB_ALLOW_NETWORKS": "127.0.0.0/8",
            }
            port = stack.free_port()
            proc = start_feeds(state, env, port)
            base = f"http://127.0.0.1:{port}"
            try:
                with Health(f"{base}/healthz") as health:
                    run = await measure(args, base, kafka, health)
            finally:
                proc.stop(timeout=30)
            return run, health, database


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.websub_flood", description=__doc__)
    parser.add_argument("--pending", type=int, default=300, help="never-answering subscribes")
    parser.add_argument("--pending-hosts", type=int, default=60, help="hosts they are spread on")
    parser.add_argument("--hangers", type=int, default=40, help="hanging subscriber hosts")
    parser.add_argument("--hangers-one-host", type=int, default=100)
    parser.add_argument("--pings", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="articles timed per phase")
    parser.add_argument("--give-up", type=float, default=150.0, help="seconds per wait")
    parser.add_argument("--write", type=Path, help="update this page (docs/reliability.md)")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    run, health, database = asyncio.run(bench(args))
    machine = f"{cpu_model()}, {os.cpu_count()} cores, {database}, {code_version()}"
    publish(report(run, health, command_line("websub_flood", args.from_make), machine),
            "websub_flood", args.write)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
