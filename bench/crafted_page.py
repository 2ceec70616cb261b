"""Crafted pages against ingest's extraction: how long each takes, and /healthz meanwhile.

    python -m bench.crafted_page [--repeat 3] [--budget 5] [--write docs/reliability.md]

One editor request should never stall the service: the review behind issue 18 sent a 177 KB
text page of 400 paragraphs sharing their first words, and ingest spent about a minute comparing
paragraphs pairwise on its event loop, so ``/healthz`` (a liveness probe) waited as long. This
starts Kafka, FerretDB and one ingest process, sends each crafted page to ``POST
/articles/preview`` (the same preparation ``POST /articles`` and the consumer run) and, while
it is outstanding, polls ``/healthz`` back to back; it reports each page's answer and time and
the probe's latency (p50/p95/max). Goal: ``/healthz`` within 100 ms while the worst page is
being refused.

The page builders at the top are also what the tests send (tests/unit/ingest/test_extract.py,
tests/integration/test_crafted_pages.py), so the benchmark and the tests attack alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The words every crafted paragraph starts with (more than extraction's comparison prefix).
SHARED_START = "شهردار مشهد در نشست شورای شهر با حضور نمایندگان شهرهای خواهرخوانده گفت"
_POOL = (
    "همکاری", "توسعه", "گردشگری", "فرهنگی", "اقتصادی", "بین‌المللی", "شهرداری", "برنامه",
    "پروژه", "سرمایه‌گذاری", "حمل‌ونقل", "عمومی", "زیرساخت", "آموزش", "سلامت", "محیط", "زیست",
)  # fmt: skip
CRAFTED_HEADLINE = "همکاری بین‌المللی شهرداری مشهد با شهرهای خواهرخوانده گسترش می‌یابد"


def crafted_paragraphs(count: int = 400, seed: int = 1) -> list[str]:
    """Paragraphs that all start alike and are made of the same words in another order.

    Alike enough that every cheap filter (same start, same letters) lets a pairwise
    comparison through, different enough that no two are duplicates: the worst case for a
    de-duplication that compares every paragraph with every other.
    """
    rng = random.Random(seed)
    return [
        f"{SHARED_START} {' '.join(rng.choice(_POOL) for _ in range(23))}." for _ in range(count)
    ]


def crafted_text_page(count: int = 400) -> str:
    """The review's page: a headline and ``count`` paragraphs (400: about 177 KB)."""
    return "\n".join([CRAFTED_HEADLINE, "", *crafted_paragraphs(count)])


def crafted_html_page(count: int = 400) -> str:
    """The same paragraphs as an HTML page (extracted by trafilatura, then de-duplicated)."""
    paras = "".join(f"<p>{p}</p>" for p in crafted_paragraphs(count))
    return (
        f"<html><head><title>{CRAFTED_HEADLINE}</title></head><body>"
        f"<article><h1>{CRAFTED_HEADLINE}</h1>{paras}</article></body></html>"
    )


def crafted_ninjs(repeats: int = 60_000) -> dict[str, Any]:
    """A ninjs document whose HTML body and headline are unclosed tags, over and over: the
    shapes that made the body and markup regexes rescan the rest of the text from every tag."""
    return {
        "uri": f"crafted-{repeats}",
        "headlines": [{"contenttype": "text/html", "value": "<" * repeats + "تیتر"}],
        "bodies": [{"contenttype": "text/html", "value": "<head>" * repeats + "<p>متن.</p>"}],
    }


@dataclass
class Attack:
    name: str
    content_type: str
    body: bytes


def attacks() -> list[Attack]:
    ninjs = {"ninjs": crafted_ninjs(10_000)}
    return [
        Attack("text page, 400 paragraphs alike", "text/plain", crafted_text_page().encode()),
        Attack("HTML page, 400 paragraphs alike", "text/html", crafted_html_page().encode()),
        Attack(
            "text page, 3,500 paragraphs alike (1.6 MB)",
            "text/plain",
            crafted_text_page(3_500).encode(),
        ),
        Attack(
            "ninjs, 10,000 unclosed tags",
            "application/json",
            json.dumps(ninjs, ensure_ascii=False).encode(),
        ),
    ]


@dataclass
class Result:
    attack: str
    status: int
    reason: str
    seconds: float
    probes: list[float]  # /healthz latencies while the page was outstanding, in seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def probe_while(client: Any, url: str, outstanding: asyncio.Task[Any]) -> list[float]:
    """/healthz back to back until ``outstanding`` is done; each probe's latency."""
    latencies: list[float] = []
    while not outstanding.done():
        t0 = time.perf_counter()
        resp = await client.get(url)
        latencies.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text
        await asyncio.sleep(0.01)
    return latencies


async def run_attack(client: Any, base: str, key: str, attack: Attack) -> Result:
    headers = {"Authorization": f"Bearer {key}", "content-type": attack.content_type}
    t0 = time.perf_counter()
    request = asyncio.create_task(
        client.post(f"{base}/articles/preview", content=attack.body, headers=headers, timeout=600)
    )
    probes = await probe_while(client, f"{base}/healthz", request)
    resp = await request
    seconds = time.perf_counter() - t0
    body = resp.json()
    reason = (
        body.get("reason", "") if resp.status_code != 200 else f"{len(body['body_text'])} chars"
    )
    return Result(attack.name, resp.status_code, reason, seconds, probes)


def issue_key(env: dict[str, str], publisher: str) -> str:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "tools.registry", "keys", "create", publisher],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1].split()[-1]


async def main_async(args: argparse.Namespace) -> int:
    import httpx

    from bench.common import code_version, command_line, cpu_model, infrastructure, publish
    from bench.ingest import start_ingest

    with tempfile.TemporaryDirectory(prefix="bench-crafted-") as tmp:
        state = Path(tmp)
        with infrastructure(state) as (kafka, mongo, database):
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                "MONGODB_URI": mongo,
                "MONGODB_DATABASE": f"bench_crafted_{os.getpid()}",
                "LOG_LEVEL": "WARNING",
                "INGEST_RATE_LIMIT": "10000000/second",
                "INGEST_PREPARE_BUDGET_SECONDS": str(args.budget),
            }
            procs = start_ingest(state, env, 1)
            try:
                key = issue_key(env, "mashhad")
                base = f"http://127.0.0.1:{procs[0].env['INGEST_HTTP_PORT']}"
                results = []
                async with httpx.AsyncClient(timeout=600) as client:
                    for attack in attacks():
                        for _ in range(args.repeat):
                            r = await run_attack(client, base, key, attack)
                            print(
                                f"{r.attack}: {r.status} in {r.seconds:.2f} s, /healthz max "
                                f"{max(r.probes, default=0) * 1000:.0f} ms, {len(r.probes)} probes",
                                flush=True,
                            )
                            results.append(r)
            finally:
                for proc in procs:
                    proc.stop(timeout=30)
    command = command_line("crafted_page", args.from_make)
    section = report(results, command, f"{cpu_model()}, {code_version()}", database, args.budget)
    publish(section, "crafted_page", args.write)
    return 0


def report(results: list[Result], command: str, machine: str, database: str, budget: float) -> str:
    lines = [
        "### Crafted pages: extraction time and /healthz meanwhile",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}; {database}; INGEST_PREPARE_BUDGET_SECONDS={budget}; "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| page | answer | time to answer (median) | /healthz probes | p50 | p95 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r.attack for r in results):
        mine = [r for r in results if r.attack == name]
        probes = [p for r in mine for p in r.probes] or [0.0]
        answer = f"{mine[0].status} {mine[0].reason[:70]}"
        lines.append(
            f"| {name} | {answer} | {statistics.median(r.seconds for r in mine):.2f} s "
            f"| {len(probes)} | {percentile(probes, 0.5) * 1000:.1f} ms "
            f"| {percentile(probes, 0.95) * 1000:.1f} ms | {max(probes) * 1000:.1f} ms |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crafted_page", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="times each page is sent")
    parser.add_argument(
        "--budget", type=float, default=5.0, help="INGEST_PREPARE_BUDGET_SECONDS (default 5)"
    )
    parser.add_argument("--write", type=Path, help="update this page's crafted_page section")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
