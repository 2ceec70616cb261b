"""What the automatic checks cost, as a share of the translation they check.

    python -m bench.checks [--articles 5] [--model m2m100|opus-mt] [--quick]
                           [--max-decoding-length 48] [--repeat 20] [--write FILE]

Every machine translation goes through ``services.translate.checks.run_checks`` before it is
published, so the checks must stay cheap next to the model. This benchmark translates N
real-sized Persian articles (``bench.translate.Corpus``: a headline and 5 to 10 paragraphs of
sentences from ``tests/fixtures/samples``) fa→en with ``CTranslate2Engine`` and a random-weight
model of M2M100-418M's shape (built and cached by ``bench.translate``; speed does not depend on the
values), with the service's engine settings; then runs ``run_checks`` on the same (source,
translation) pairs, with a glossary and the articles' HTML, ``--repeat`` times. Both are timed in
CPU seconds of this process (CTranslate2's threads included) and in wall seconds.

Ratio = checks' CPU per article / translation's CPU per article (goal: under 5 %). Random weights
never emit ``</s>``, so every segment decodes exactly ``--max-decoding-length`` tokens, about a
real sentence's English length. ``--quick`` translates 2 articles (the model is still built
once, which takes minutes and about 4 GB of memory).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import platform
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import code_version, command_line, cpu_model, publish
from bench.translate import SOURCE, TARGET, Corpus, bench_models, ensure_model
from services.translate.checks import CHECKS_VERSION, SegmentPair, run_checks
from shared.glossary import Term

GLOSSARY = (
    ("مشهد", "Mashhad"),
    ("شهرداری مشهد", "Mashhad Municipality"),
    ("تهران", "Tehran"),
    ("گرگان", "Gorgan"),
    ("گوانگژو", "Guangzhou"),
    ("متروپلیس", "Metropolis"),
    ("شورای اسلامی شهر", "City Council"),
    ("حرم", "the shrine"),
    ("جهانشهر", "Jahanshahr"),
    ("اتوبوسرانی", "bus company"),
)
"""A glossary of a city's size (every term is looked up in every segment)."""


@dataclass(frozen=True)
class Article:
    pairs: tuple[SegmentPair, ...]
    source_html: str
    target_html: str


@dataclass(frozen=True)
class Timing:
    cpu: float
    wall: float


def _html(paragraphs: Sequence[str]) -> str:
    """Paragraphs, each with a link and bold text, as ingest stores a body."""
    return "".join(
        f'<p><b>{i}</b> {html.escape(p, quote=False)} <a href="https://news.example/{i}">+</a></p>'
        for i, p in enumerate(paragraphs)
    )


def translate(
    model_dir: Path, corpus: Corpus, max_decoding_length: int
) -> tuple[list[Article], Timing]:
    """Translate each article as the service does (one engine call per article)."""
    from services.translate.ct2 import CTranslate2Engine

    engine = CTranslate2Engine(model_dir, max_decoding_length=max_decoding_length)
    asyncio.run(engine.translate(corpus.segments()[0][:2], SOURCE, TARGET))  # warm-up
    articles = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for segments in corpus.segments():
        out = asyncio.run(engine.translate(segments, SOURCE, TARGET))
        pairs = tuple(SegmentPair(s, t) for s, t in zip(segments, out, strict=True))
        articles.append(Article(pairs, _html(segments[1:]), _html(out[1:])))
    return articles, Timing(time.process_time() - cpu0, time.perf_counter() - wall0)


def check(articles: Sequence[Article], repeat: int) -> tuple[Timing, int]:
    """Run every check on every article ``repeat`` times; the failures of one round."""
    terms = [Term(source=s, target=t) for s, t in GLOSSARY]
    failures = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        failures = 0
        for a in articles:
            failures += len(
                run_checks(
                    a.pairs,
                    SOURCE,
                    TARGET,
                    terms,
                    source_html=a.source_html,
                    target_html=a.target_html,
                )
            )
    return Timing(time.process_time() - cpu0, time.perf_counter() - wall0), failures


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def report(
    title: str, n: int, segments: int, engine: Timing, checks: Timing, repeat: int, args: str
) -> str:
    import ctranslate2

    engine_cpu, engine_wall = engine.cpu / n, engine.wall / n
    checks_cpu, checks_wall = checks.cpu / (n * repeat), checks.wall / (n * repeat)
    return "\n".join(
        [
            "## Cost of the automatic checks",
            "",
            f"Command: `{args}`  ",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores ({platform.machine()}), Python "
            f"{platform.python_version()}; CTranslate2 {ctranslate2.__version__} on the CPU, "
            f"int8, beam 2; {time.strftime('%Y-%m-%d')}; {code_version()}; checks version "
            f"{CHECKS_VERSION}.",
            "",
            "| model (random weights, real shape), fa→en | articles (segments) "
            "| translation per article, CPU (wall) | checks per article, CPU (wall) "
            "| checks / translation, CPU |",
            "|---|---|---|---|---|",
            f"| {title} | {n} ({segments}) | {_ms(engine_cpu)} ({_ms(engine_wall)}) "
            f"| {_ms(checks_cpu)} ({_ms(checks_wall)}) | {checks_cpu / engine_cpu:.2%} |",
            "",
            "Goal: under 5 %. The checks ran on the model's (random) output with a "
            f"{len(GLOSSARY)}-term glossary and the articles' HTML, {repeat} times over.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__)
    parser.add_argument("--articles", type=int, default=5)
    parser.add_argument("--model", choices=["m2m100", "opus-mt"], default="m2m100")
    parser.add_argument("--quick", action="store_true", help="2 articles")
    parser.add_argument("--max-decoding-length", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=20, help="rounds of checks (default 20)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached model")
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 2 if args.quick else args.articles
    if n < 1 or args.repeat < 1:
        parser.error("--articles and --repeat must be at least 1")

    model = bench_models(n, n)[args.model]
    model_dir = ensure_model(model, args.rebuild)
    corpus = Corpus.build(n, uuid.uuid4().hex[:8])
    segments = sum(len(a) for a in corpus.segments())
    print(f"{model.key}: translating {n} articles, {segments} segments ...", flush=True)
    articles, engine = translate(model_dir, corpus, args.max_decoding_length)
    print(f"  translation: {engine.cpu:.1f} s CPU, {engine.wall:.1f} s wall", flush=True)
    checks, failures = check(articles, args.repeat)
    print(
        f"  checks: {checks.cpu:.3f} s CPU for {args.repeat} rounds; "
        f"{failures} failures per round (random output fails, as it should)",
        flush=True,
    )
    section = report(
        model.title,
        n,
        segments,
        engine,
        checks,
        args.repeat,
        command_line("checks", args.from_make),
    )
    publish(section, "checks", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
