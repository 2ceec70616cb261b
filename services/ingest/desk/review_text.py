"""A held translation beside its source, the failing segments highlighted (pure).

The review page pairs the source with the machine text block by block: translate gives back
every block of the body, in order (:mod:`services.translate.segment`), so the n-th paragraph of
one is the n-th of the other, however the sentences inside were cut. Row 0 is the headline
(segment 0 of a :class:`~shared.contracts.CheckFailure`). A failure goes on the row whose source
contains its source segment; there its evidence (a missing figure, a term) is marked, or the
whole failing sentence when it names none that can be found. Matching ignores runs of spaces and
zero-width non-joiners, which normalising may have added or removed since. A failure no row
contains is listed on its own, with its segment's text, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from services.ingest.text import html_to_text, paragraphs
from shared.contracts import CheckFailure

ZWNJ = "\u200c"


@dataclass(frozen=True)
class Span:
    """A piece of text, marked when a check points at it."""

    text: str
    marked: bool = False


@dataclass(frozen=True)
class Row:
    """One block: ``index`` 0 is the headline, then the body's paragraphs from 1 (the page
    names them in the interface language)."""

    index: int
    source: tuple[Span, ...]
    target: str
    failures: tuple[CheckFailure, ...] = ()


@dataclass(frozen=True)
class Unplaced:
    """A failure whose segment no row contains: shown with its own source and target."""

    failure: CheckFailure
    source: tuple[Span, ...]


def blocks(body_html: str) -> list[str]:
    """The text of each block of a body, in order."""
    return paragraphs(html_to_text(body_html))


def _pattern(needle: str) -> re.Pattern[str] | None:
    """``needle`` found whatever the spaces between its words and the ZWNJs inside them."""
    words = needle.replace(ZWNJ, "").split()
    if not words:
        return None
    word = [f"{ZWNJ}?".join(re.escape(c) for c in w) for w in words]
    return re.compile(r"\s+".join(word))


def _found(text: str, needle: str) -> list[tuple[int, int]]:
    pattern = _pattern(needle)
    return [m.span() for m in pattern.finditer(text)] if pattern else []


def spans(text: str, needles: Iterable[str]) -> tuple[Span, ...]:
    """``text`` cut into spans, every occurrence of every needle marked (overlaps merged)."""
    hits = sorted(h for n in needles for h in _found(text, n))
    merged: list[list[int]] = []
    for start, end in hits:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[Span] = []
    at = 0
    for start, end in merged:
        if start > at:
            out.append(Span(text[at:start]))
        out.append(Span(text[start:end], marked=True))
        at = end
    if at < len(text) or not out:
        out.append(Span(text[at:]))
    return tuple(out)


def marks(failure: CheckFailure, text: str) -> list[str]:
    """What to mark in ``text`` for one failure: its evidence, else its source segment."""
    evidence = [e for e in failure.evidence if _found(text, e)]
    if evidence:
        return evidence
    return [failure.source] if failure.source and _found(text, failure.source) else []


def locate(failure: CheckFailure, sources: Sequence[str]) -> int | None:
    """The row (0: the headline) whose source holds the failure's segment, if any."""
    if failure.segment == 0:
        return 0
    if not failure.source:
        return None
    first = 1 if failure.segment is not None else 0  # a body segment is not the headline
    for index in range(first, len(sources)):
        if _found(sources[index], failure.source):
            return index
    return None


def side_by_side(
    source_headline: str,
    source_html: str,
    target_headline: str,
    target_html: str,
    failures: Sequence[CheckFailure],
) -> tuple[list[Row], list[Unplaced]]:
    """The rows of the review table, and the failures no row could take."""
    sources = [source_headline, *blocks(source_html)]
    targets = [target_headline, *blocks(target_html)]
    size = max(len(sources), len(targets))
    sources += [""] * (size - len(sources))
    targets += [""] * (size - len(targets))
    placed: dict[int, list[CheckFailure]] = {}
    unplaced: list[Unplaced] = []
    for failure in failures:
        index = locate(failure, sources)
        if index is None:
            text = failure.source or ""
            unplaced.append(Unplaced(failure, spans(text, marks(failure, text))))
        else:
            placed.setdefault(index, []).append(failure)
    rows = []
    for index, (source, target) in enumerate(zip(sources, targets, strict=True)):
        mine = placed.get(index, [])
        needles = [m for f in mine for m in marks(f, source)]
        rows.append(
            Row(
                index=index,
                source=spans(source, needles),
                target=target,
                failures=tuple(mine),
            )
        )
    return rows, unplaced


# A run of right-to-left text (Arabic-script letters, with the digits, spaces and punctuation
# inside it) in a left-to-right sentence.
_RTL_RUN = re.compile(
    r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]"
    r"(?:[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u200c0-9\s.,:%/-]*"
    r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc])?"
)


def isolate_rtl(text: str) -> Markup:
    """``text`` escaped, each right-to-left run in ``<bdi>``: a Persian figure quoted in an
    English sentence ("missing: ۳۰ میلیون") keeps its own reading order instead of being laid
    out left to right with the sentence around it."""
    out: list[str] = []
    last = 0
    for match in _RTL_RUN.finditer(text):
        start = match.start()
        # Digits just before the run belong to it ("۳۰ میلیون": the figure, then the word).
        while start > last and (text[start - 1].isdigit() or text[start - 1] == " "):
            start -= 1
        while start < match.start() and text[start] == " ":
            start += 1
        out.append(str(escape(text[last:start])))
        out.append(f"<bdi>{escape(text[start : match.end()])}</bdi>")
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))
