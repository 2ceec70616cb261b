"""One translation service out of several engines.

No single engine covers every pair we publish, and engines fail (a model server restarts, a
remote API times out). The router picks, for each request, the first engine that translates the
pair directly, else a pivot through English (most models are trained to and from English), and
falls back to the next candidate route on transient failures. It reports every engine call it
relied on (:class:`Leg`) so provenance can say exactly how a text was produced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.translate.engines import TranslationEngine
from services.translate.segment import translate_non_blank

log = logging.getLogger(__name__)

Route = tuple[TranslationEngine, ...]


@dataclass(frozen=True)
class Leg:
    """One engine call in a translation: what provenance records per hop."""

    engine: str
    model: str | None
    model_version: str | None
    source: str
    target: str


def _joined(values: Sequence[str | None]) -> str | None:
    """Distinct non-empty values in order, joined with ``+``; ``None`` when there are none."""
    distinct = list(dict.fromkeys(v for v in values if v))
    return "+".join(distinct) if distinct else None


@dataclass(frozen=True)
class Routed:
    """Translated texts and the legs that produced them (one direct, two when pivoted)."""

    texts: list[str]
    legs: tuple[Leg, ...]

    @property
    def pivot(self) -> str | None:
        """The intermediate language when the text went through one, else ``None``."""
        return self.legs[0].target if len(self.legs) > 1 else None

    @property
    def engine(self) -> str:
        """Engine names for a single provenance field, e.g. ``ctranslate2+libretranslate``."""
        return _joined([leg.engine for leg in self.legs]) or ""

    @property
    def model(self) -> str | None:
        return _joined([leg.model for leg in self.legs])

    @property
    def model_version(self) -> str | None:
        return _joined([leg.model_version for leg in self.legs])


LegCache = dict[tuple[Leg, str], str]
"""One leg's output per input segment: (leg, source text) → translated text."""


class NoRoute(LookupError):
    """No engine (or pair of engines through the pivot) covers the requested pair: a
    configuration problem, not something retrying will fix."""


class AllEnginesFailed(Exception):
    """Every candidate route failed transiently; ``errors`` holds each route and its error."""

    def __init__(self, source: str, target: str, errors: Sequence[tuple[str, Exception]]) -> None:
        self.source = source
        self.target = target
        self.errors: tuple[tuple[str, Exception], ...] = tuple(errors)
        detail = "; ".join(f"{route}: {_describe(exc)}" for route, exc in self.errors)
        super().__init__(f"every route for {source}→{target} failed: {detail}")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def worth_another_engine(exc: BaseException) -> bool:
    """Default policy: network and timeout trouble, or a service saying it is unavailable, is
    worth trying elsewhere; anything else is a bug or bad input and must surface."""
    if isinstance(exc, TimeoutError | ConnectionError | OSError):
        return True
    return any("Unavailable" in cls.__name__ for cls in type(exc).__mro__)


class Router:
    """Turns an ordered list of engines (most preferred first) into one translation service."""

    def __init__(
        self,
        engines: Sequence[TranslationEngine],
        pivot: str = "en",
        worth_another_engine: Callable[[BaseException], bool] = worth_another_engine,
    ) -> None:
        self._engines: tuple[TranslationEngine, ...] = tuple(engines)
        self.pivot = pivot
        self._worth_another_engine = worth_another_engine

    @property
    def engines(self) -> tuple[TranslationEngine, ...]:
        return self._engines

    def excluding(self, names: Iterable[str]) -> Router:
        """This router without the engines named in ``names`` (an engine's name or its model's;
        a provenance value joined with ``+`` names each part): an editor sent a translation
        back to be made by another engine or model."""
        unwanted = {part.strip() for name in names for part in name.split("+") if part.strip()}
        kept = [
            e
            for e in self._engines
            if e.name not in unwanted and (e.model is None or e.model not in unwanted)
        ]
        return Router(kept, self.pivot, self._worth_another_engine)

    def routes(self, source: str, target: str) -> list[Route]:
        """Candidate routes, best first: every direct engine in configured order, then every
        capable (source→pivot, pivot→target) pair, so a direct model always wins over the
        quality loss of translating twice."""
        routes: list[Route] = [(e,) for e in self._engines if e.supports(source, target)]
        if self.pivot in (source, target) or source == target:
            return routes
        first = [e for e in self._engines if e.supports(source, self.pivot)]
        second = [e for e in self._engines if e.supports(self.pivot, target)]
        routes.extend((a, b) for a in first for b in second)
        return routes

    def supports(self, source: str, target: str) -> bool:
        return bool(self.routes(source, target))

    def _legs(self, route: Route, source: str, target: str) -> tuple[Leg, ...]:
        hops = [source, *([self.pivot] if len(route) > 1 else []), target]
        return tuple(
            Leg(e.name, e.model, e.model_version, src, tgt)
            for e, src, tgt in zip(route, hops[:-1], hops[1:], strict=True)
        )

    def _label(self, route: Route, source: str, target: str) -> str:
        return ", ".join(
            f"{leg.engine} {leg.source}→{leg.target}" for leg in self._legs(route, source, target)
        )

    def no_route(self, source: str, target: str) -> NoRoute:
        """The error saying, for a person, why ``source``→``target`` cannot be translated."""
        names = ", ".join(e.name for e in self._engines) or "none"
        via = (
            ""
            if self.pivot in (source, target) or source == target
            else f", directly or through {self.pivot}"
        )
        return NoRoute(f"no engine translates {source}→{target}{via} (engines: {names})")

    async def translate(
        self,
        segments: Sequence[str],
        source: str,
        target: str,
        *,
        cache: LegCache | None = None,
    ) -> Routed:
        """Translate along the first route that works.

        Transient failures move on to the next route (logged at WARNING); any other error is
        re-raised at once so bugs and bad input are not hidden behind a fallback. Each leg's
        output is kept per segment in ``cache`` (a fresh one per call when none is given), so a
        pivot leg that succeeded is reused by later routes, and, with a cache shared across
        calls, fa→ar and fa→ru through English reuse the fa→en segments already translated.
        A leg that failed is not hammered again within the call.
        """
        routes = self.routes(source, target)
        if not routes:
            raise self.no_route(source, target)

        if not any(s.strip() for s in segments):
            return Routed(list(segments), self._legs(routes[0], source, target))

        done: LegCache = {} if cache is None else cache
        failed: dict[tuple[int, str, str, tuple[str, ...]], Exception] = {}
        errors: list[tuple[str, Exception]] = []
        for n, route in enumerate(routes):
            legs = self._legs(route, source, target)
            texts = list(segments)
            try:
                for engine, leg in zip(route, legs, strict=True):
                    todo = list(dict.fromkeys(t for t in texts if (leg, t) not in done))
                    key = (id(engine), leg.source, leg.target, tuple(todo))
                    if key in failed:
                        raise failed[key]
                    if todo:
                        try:
                            out = await _call(engine, todo, leg.source, leg.target)
                        except Exception as exc:
                            if self._worth_another_engine(exc):
                                failed[key] = exc
                            raise
                        done.update(((leg, t), o) for t, o in zip(todo, out, strict=True))
                    texts = [done[(leg, t)] for t in texts]
            except Exception as exc:
                if not self._worth_another_engine(exc):
                    raise
                label = self._label(route, source, target)
                errors.append((label, exc))
                if n + 1 < len(routes):
                    following = self._label(routes[n + 1], source, target)
                    log.warning(
                        "translation route %s failed (%s); falling back to %s",
                        label,
                        _describe(exc),
                        following,
                        extra={"route": label, "next_route": following, "error": _describe(exc)},
                    )
                continue
            return Routed(texts, legs)
        raise AllEnginesFailed(source, target, errors) from errors[-1][1]


async def _call(
    engine: TranslationEngine, segments: Sequence[str], source: str, target: str
) -> list[str]:
    """One engine call that never sends empty segments (they come back unchanged) and refuses
    output whose length does not match, which would silently shift every later segment."""

    async def checked(texts: list[str]) -> list[str]:
        out = await engine.translate(texts, source, target)
        if len(out) != len(texts):
            raise ValueError(
                f"{engine.name} returned {len(out)} segments for {len(texts)} ({source}→{target})"
            )
        return out

    return await translate_non_blank(segments, checked)
