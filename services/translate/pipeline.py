"""Translate many articles into one language in as few engine calls as possible.

A Kafka batch brings articles of several publishers; per (source, target) pair their segments are
pooled: each distinct segment is looked up in the translation memory once, and the missing ones
go to the engine in calls of at most ``batch_tokens`` tokens, so a burst of short items costs a
few model calls, not one each. A failing call is retried with bounded backoff; if it keeps
failing, only the articles with a segment in it fail, and the rest are published.

Every machine translation then goes through the automatic checks (:mod:`services.translate.
checks`): their version and failures travel in its provenance, and the publisher's policy
(:mod:`services.translate.policy`) decides whether it goes out or waits for an editor.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.translate.checks import CHECKS_VERSION, SegmentPair, run_checks
from services.translate.glossary import (
    GlossaryMode,
    GlossedSegment,
    describe,
    missing_terms,
    prepare,
)
from services.translate.memory import TranslationMemory, memory_key, preferred_legs
from services.translate.routing import Leg, LegCache, Routed, Router
from services.translate.segment import (
    Segmented,
    assemble_article,
    assemble_captions,
    segment_article,
)
from shared.contracts import (
    CheckFailure,
    Image,
    IngestedArticle,
    Provenance,
    TranslatedArticle,
    utcnow,
)
from shared.glossary import Glossary, Term
from shared.storage import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


def estimate_tokens(text: str) -> int:
    """Subword tokens, roughly (SentencePiece splits Persian words into 1-2 pieces)."""
    return len(text.split()) * 3 // 2 + 1


def token_chunks(texts: Sequence[str], budget: int, batch: int = 1) -> list[list[str]]:
    """Engine calls for ``texts``: sorted by length and cut into runs of ``batch`` (the engine's
    own batch size), grouped into calls of at most ``budget`` estimated tokens (at least one run
    each). Sorting keeps padding low inside each model batch, and whole runs keep the engine
    from splitting a call into full batches plus a small, inefficient remainder."""
    ordered = sorted(dict.fromkeys(texts), key=estimate_tokens)
    runs = [ordered[i : i + batch] for i in range(0, len(ordered), max(batch, 1))]
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for run in runs:
        cost = sum(estimate_tokens(t) for t in run)
        if current and used + cost > budget:
            chunks.append(current)
            current, used = [], 0
        current += run
        used += cost
    if current:
        chunks.append(current)
    return chunks


def engine_batch(router: Router, source: str, target: str) -> int:
    """Segments per model batch of the engines on the preferred route (1 when they don't say)."""
    routes = router.routes(source, target)
    return max((getattr(e, "max_batch_size", 1) for e in routes[0]), default=1) if routes else 1


@dataclass(frozen=True)
class Job:
    article: IngestedArticle
    target: str
    glossary: Glossary | None = None


@dataclass
class Outcome:
    """A translation (``event``) or why there is none (``error``)."""

    job: Job
    event: TranslatedArticle | None = None
    error: str | None = None
    missing: list[Term] = field(default_factory=list)


#: An article's cut within one batch, by (article id, version, content hash, plain, context).
_Plans = dict[tuple[str, int, str, bool, bool], Segmented]


@dataclass(frozen=True)
class _Planned:
    job: Job
    plan: Segmented
    prepared: list[GlossedSegment]


class BatchTranslator:
    def __init__(
        self,
        router: Router,
        memory: TranslationMemory | None,
        *,
        batch_tokens: int = 2048,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        glossary_mode: GlossaryMode = "inline",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.router = router
        self.memory = memory
        self.batch_tokens = batch_tokens
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.glossary_mode = glossary_mode
        self.sleep = sleep
        self.engine_calls = 0

    def with_router(self, router: Router) -> BatchTranslator:
        """This translator (memory, budgets, retries) over another router: an editor sent a
        translation back to be made without some engines."""
        other = copy.copy(self)
        other.router = router
        return other

    async def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Translate ``jobs`` (any mix of pairs); one outcome per job, in order."""
        by_pair: dict[tuple[str, str], list[int]] = {}
        for n, job in enumerate(jobs):
            by_pair.setdefault((job.article.language, job.target), []).append(n)
        outcomes: list[Outcome | None] = [None] * len(jobs)
        cache: LegCache = {}  # shared by the pairs: fa→ar via en reuses fa→en's segments
        plans: _Plans = {}  # an article is cut once for all its target languages
        for (source, target), indexes in by_pair.items():
            done = await self._pair(source, target, [jobs[i] for i in indexes], cache, plans)
            for i, outcome in zip(indexes, done, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    async def _pair(
        self, source: str, target: str, jobs: list[Job], cache: LegCache, plans: _Plans
    ) -> list[Outcome]:
        planned = self._plan(source, target, jobs, plans)
        texts = list(dict.fromkeys(p.text for pl in planned for p in pl.prepared if p.text.strip()))
        preferred = preferred_legs(self.router, source, target)
        translated, legs_of = await self._known(source, target, preferred, texts)
        missing = [t for t in texts if t not in translated]
        if self.memory is not None:
            self.memory.misses += len(missing)

        if len(preferred) > 1 and missing:
            await self._recall_legs(preferred[:-1], missing, cache)

        failed, calls, engine_seconds = await self._translate_missing(
            source, target, missing, cache, translated, legs_of
        )

        log.info(
            "translated batch",
            extra={
                "pair": f"{source}→{target}",
                "articles": len(jobs),
                "segments": len(texts),
                "memory_hits": len(texts) - len(missing),
                "failed_segments": len(failed),
                "engine_calls": calls,
                "engine_seconds": round(engine_seconds, 3),
            },
        )
        return [self._outcome(pl, translated, legs_of, failed) for pl in planned]

    def _plan(self, source: str, target: str, jobs: list[Job], plans: _Plans) -> list[_Planned]:
        """Each article cut into segments (once per batch: the cut does not depend on the
        target language), with its glossary terms prepared in them."""
        # Inline markup travels as <x1>…</x1> markers only when every engine keeps them.
        plain = not all(getattr(e, "keeps_markup", False) for e in self.router.engines)
        # The lead goes with the headline only when every candidate engine knows what to do
        # with it: an NMT fallback would translate it into the headline.
        engines = [e for route in self.router.routes(source, target) for e in route]
        context = bool(engines) and all(getattr(e, "uses_context", False) for e in engines)
        planned = []
        for job in jobs:
            a = job.article
            cut = (a.article_id, a.version, a.content_hash, plain, context)
            plan = plans.get(cut)
            if plan is None:
                plan = plans[cut] = segment_article(
                    a.headline,
                    a.body_html,
                    plain_segments=plain,
                    lead_context=context,
                    captions=[image.caption for image in a.images],
                )
            terms = job.glossary.terms if job.glossary else []
            prepared = [prepare(s, terms, self.glossary_mode) for s in plan.segments]
            planned.append(_Planned(job, plan, prepared))
        return planned

    async def _known(
        self, source: str, target: str, preferred: tuple[Leg, ...], texts: list[str]
    ) -> tuple[dict[str, str], dict[str, tuple[Leg, ...]]]:
        """(translation, legs) of the ``texts`` the memory already holds along the preferred
        route, each distinct segment looked up once; they count as the memory's hits."""
        translated: dict[str, str] = {}
        legs_of: dict[str, tuple[Leg, ...]] = {}
        if self.memory is not None:
            keys = {t: memory_key(source, target, preferred, t) for t in texts}
            known = await self.memory.lookup(keys.values())
            for text in texts:
                if keys[text] in known:
                    translated[text] = known[keys[text]]
                    legs_of[text] = preferred
            self.memory.hits += len(translated)
        return translated, legs_of

    async def _translate_missing(
        self,
        source: str,
        target: str,
        missing: list[str],
        cache: LegCache,
        translated: dict[str, str],
        legs_of: dict[str, tuple[Leg, ...]],
    ) -> tuple[dict[str, str], int, float]:
        """Engine calls of at most ``batch_tokens`` for the segments the memory lacks, adding to
        ``translated`` and ``legs_of`` and storing in the memory; a call that keeps failing fails
        only its segments. Returns (failed segment: reason, engine calls, engine seconds)."""
        failed: dict[str, str] = {}
        batch = engine_batch(self.router, source, target)
        calls, engine_seconds = 0, 0.0
        for chunk in token_chunks(missing, self.batch_tokens, batch):
            before = set(cache)
            started = time.perf_counter()
            try:
                calls += 1
                routed = await self._call(chunk, source, target, cache)
            except Exception as exc:
                if isinstance(exc, TRANSIENT_DB_ERRORS):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
                failed.update(dict.fromkeys(chunk, reason))
                continue
            finally:
                engine_seconds += time.perf_counter() - started
            translated.update(zip(chunk, routed.texts, strict=True))
            legs_of.update(dict.fromkeys(chunk, routed.legs))
            if self.memory is not None:
                pairs = zip(chunk, routed.texts, strict=True)
                await self.memory.store(
                    {memory_key(source, target, routed.legs, t): o for t, o in pairs},
                    legs=routed.legs,
                )
                for leg in routed.legs[:-1]:  # a pivot's first leg is a fa→en translation too
                    fresh = [(t, o) for (lg, t), o in cache.items() if lg == leg]
                    await self.memory.store(
                        {
                            memory_key(leg.source, leg.target, (leg,), t): o
                            for t, o in fresh
                            if (leg, t) not in before
                        },
                        legs=(leg,),
                    )
        return failed, calls, engine_seconds

    async def _recall_legs(self, legs: Sequence[Leg], texts: list[str], cache: LegCache) -> None:
        """Fill ``cache`` with the memory's translations of ``texts`` along the leading legs of a
        pivot route (source→en), stored when fa→en was translated directly or via another pivot;
        only the first leg's input is known here, so only it is looked up."""
        if self.memory is None:
            return
        first = legs[0]
        todo = [t for t in texts if (first, t) not in cache]
        keys = {t: memory_key(first.source, first.target, (first,), t) for t in todo}
        known = await self.memory.lookup(keys.values())
        cache.update(((first, t), known[k]) for t, k in keys.items() if k in known)

    async def _call(self, chunk: list[str], source: str, target: str, cache: LegCache) -> Routed:
        """One engine call (through the router's fallbacks), retried with bounded backoff."""
        delay = self.backoff_seconds
        for attempt in range(1, self.attempts + 1):
            self.engine_calls += 1
            try:
                return await self.router.translate(chunk, source, target, cache=cache)
            except Exception as exc:
                if isinstance(exc, TRANSIENT_DB_ERRORS) or attempt == self.attempts:
                    raise
                if isinstance(exc, ValueError):  # rejected input or output: retrying won't help
                    raise
                log.warning(
                    "engine call failed; retrying",
                    extra={"attempt": attempt, "delay_s": delay, "error": repr(exc)},
                )
                await self.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    def _outcome(
        self,
        planned: _Planned,
        translated: dict[str, str],
        legs_of: dict[str, tuple[Leg, ...]],
        failed: dict[str, str],
    ) -> Outcome:
        job = planned.job
        sent = [p.text for p in planned.prepared]
        errors = [failed[t] for t in sent if t in failed]
        if errors:
            return Outcome(job, error=errors[0])
        out = [translated.get(t, t) for t in sent]
        missing = [
            term for p, text in zip(planned.prepared, out, strict=True)
            for term in missing_terms(text, p.terms)
        ]  # fmt: skip
        missing = list(dict.fromkeys(missing))
        headline, body_html = assemble_article(planned.plan, out)
        images = translated_images(job.article.images, assemble_captions(planned.plan, out))
        legs = list(dict.fromkeys(leg for t in sent if t in legs_of for leg in legs_of[t]))
        routed = Routed([], tuple(legs))
        a = job.article
        checked = self._checked(legs)
        failures = check_translation(planned, out, headline, body_html) if checked else []
        event = TranslatedArticle(
            article_id=a.article_id,
            version=a.version,
            status=a.status,
            publisher=a.publisher,
            source_language=a.language,
            language=job.target,
            headline=headline,
            body_html=body_html,
            url=a.url,
            subjects=a.subjects,
            byline=a.byline,
            images=images,
            published=a.published,
            provenance=Provenance(
                engine=routed.engine or "none",
                model=routed.model,
                model_version=routed.model_version,
                glossary_version=job.glossary.label if job.glossary else None,
                pivot=_pivot(legs, job.target),
                missing_terms=[describe(t) for t in missing],
                needs_review=bool(failures) if checked else bool(missing),
                translated_at=utcnow(),
                checks_version=CHECKS_VERSION if checked else None,
                check_failures=failures,
            ),
        )
        return Outcome(job, event=event, missing=missing)

    def _checked(self, legs: Sequence[Leg]) -> bool:
        """Whether output made along ``legs`` is checked: not when an engine on the way says
        its output is no translation (the pseudo engine)."""
        unchecked = {e.name for e in self.router.engines if not getattr(e, "checked", True)}
        return not any(leg.engine in unchecked for leg in legs)


_MARKER = re.compile(r"</?x\d+>")
CAPTION_MAX = 1000  # shared.contracts.ShortText: a longer translation would not parse downstream


def translated_images(images: Sequence[Image], captions: Sequence[str | None]) -> list[Image]:
    """The source's images with their captions translated (credit, address and size kept): a
    translation longer than a caption may be is cut at the last space that fits."""
    out = []
    for image, caption in zip(images, captions, strict=True):
        if caption is not None and len(caption) > CAPTION_MAX:
            cut = caption[: CAPTION_MAX - 1]
            caption = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
        out.append(image.model_copy(update={"caption": caption}))
    return out


def check_translation(
    planned: _Planned, out: Sequence[str], headline: str, body_html: str
) -> list[CheckFailure]:
    """The automatic checks on the original source segments (not the glossary-prepared text)
    against their translations: the headline as assembled (no lead context), the sentences
    without inline markers (the markup check compares the whole bodies). A check that raises
    is one failure with its reason: one bad article never crashes the batch."""
    job = planned.job
    sources = [job.article.headline, *planned.plan.segments[1:]]
    targets = [headline, *out[1:]]
    pairs = [
        SegmentPair(_MARKER.sub("", s), _MARKER.sub("", t))
        for s, t in zip(sources, targets, strict=True)
    ]
    terms = job.glossary.terms if job.glossary else ()
    try:
        return run_checks(
            pairs,
            job.article.language,
            job.target,
            terms,
            source_html=job.article.body_html,
            target_html=body_html,
        )
    except Exception as exc:  # run_checks promises not to raise; a bug must still not
        log.exception("automatic checks raised")
        return [CheckFailure(check="error", reason=f"the checks raised {type(exc).__name__}")]


def _pivot(legs: Sequence[Leg], target: str) -> str | None:
    """The intermediate language, when any segment went through one."""
    return next((leg.target for leg in legs if leg.target != target), None)
