"""Glossary terms in translation (pure): find them, put them into the text, check the output.

Neural engines cannot be told "translate مشهد as Mashhad", but they copy a foreign-script name
they meet in the source, so the default (``inline``) writes the wanted target term into the
source before translation; ``verify`` leaves the source alone. Either way every translated
segment is checked afterwards: a required term whose target is missing flags the translation for
review instead of publishing it as correct.

The translation memory is keyed by the text actually sent, so a glossary edit re-translates
exactly the segments whose text it changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from shared.glossary import Term

GlossaryMode = Literal["inline", "verify"]


@lru_cache(maxsize=256)
def _pattern(sources: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation, longest source first, matching whole words only (a ZWNJ or any
    non-word character is a boundary: شهرداری‌ها contains شهرداری, مشهدی is not مشهد)."""
    ordered = sorted(sources, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


def find_terms(text: str, terms: Sequence[Term]) -> list[Term]:
    """The terms occurring in ``text`` (longest match wins, no overlaps), in order, once each."""
    if not terms or not text:
        return []
    by_source = {t.source: t for t in terms}
    found: dict[str, Term] = {}
    for match in _pattern(tuple(by_source)).finditer(text):
        found.setdefault(match.group(0), by_source[match.group(0)])
    return list(found.values())


def write_in(text: str, terms: Sequence[Term]) -> str:
    """``text`` with every occurrence of each source term replaced by its target."""
    if not terms:
        return text
    by_source = {t.source: t.target for t in terms}
    return _pattern(tuple(by_source)).sub(lambda m: by_source[m.group(0)], text)


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def missing_terms(translation: str, terms: Sequence[Term]) -> list[Term]:
    """Required terms whose target does not appear in ``translation`` (case and spacing aside;
    a target inside an inflected word counts, so Мешхеда has Мешхед)."""
    folded = _fold(translation)
    return [t for t in terms if t.required and _fold(t.target) not in folded]


@dataclass(frozen=True)
class GlossedSegment:
    """A segment as sent to the engine, and the terms its translation must contain."""

    text: str
    terms: tuple[Term, ...]


def prepare(segment: str, terms: Sequence[Term], mode: GlossaryMode) -> GlossedSegment:
    found = find_terms(segment, terms)
    if not found:
        return GlossedSegment(segment, ())
    return GlossedSegment(write_in(segment, found) if mode == "inline" else segment, tuple(found))


def describe(term: Term) -> str:
    return f"{term.source} → {term.target}"
