"""Automatic checks on a machine translation (pure, deterministic, no I/O).

Each check is a function of one :class:`Translation` returning the :class:`CheckFailure` s an
editor should see: what is wrong, in which segment, and what to highlight in the source. They run
on every translated article, so each is linear in the text and cheap next to the model.
:func:`run_checks` runs them all; a check that raises is reported as a failure of that check
("the check failed to run: ...") and never stops the others or the batch.

The checks prefer silence to a false alarm: a good translation held for review costs an editor's
time and teaches them to approve without reading. ``docs/checks.md`` says what each one catches,
its bounds, and what it cannot catch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

from services.translate.glossary import describe, find_terms, missing_terms
from services.translate.numbers import missing_figures
from shared.contracts import CheckFailure
from shared.glossary import Term
from shared.languages import LANGUAGES

CHECKS_VERSION: str = "1"
"""Bump on any change of what the checks flag (it is recorded in each translation's provenance,
so a reviewer knows which rules held a translation back)."""


@dataclass(frozen=True)
class SegmentPair:
    """One source segment (0 is the headline, then the body's) and its translation.

    ``source`` is the original text, before glossary terms were written into it."""

    source: str
    target: str


@dataclass(frozen=True)
class Translation:
    """Everything a check may look at."""

    pairs: tuple[SegmentPair, ...]
    source_lang: str
    target_lang: str
    terms: tuple[Term, ...] = ()
    source_html: str | None = None
    target_html: str | None = None


def _has_text(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _both(t: Translation) -> list[tuple[int, SegmentPair]]:
    """The pairs with text on both sides: an empty target is the ``empty`` check's alone, so
    it is not reported again as a dropped figure, a missing term or a short length."""
    return [(i, p) for i, p in enumerate(t.pairs) if _has_text(p.source) and _has_text(p.target)]


def _failure(
    check: str, reason: str, i: int, pair: SegmentPair, evidence: Sequence[str] = ()
) -> CheckFailure:
    return CheckFailure(
        check=check,
        reason=reason,
        segment=i,
        source=pair.source,
        target=pair.target,
        evidence=list(evidence),
    )


def _words_of(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _base(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].casefold()


# ------------------------------------------------------------------------------ numbers, glossary


def check_numbers(t: Translation) -> list[CheckFailure]:
    """Every number and date of the source segment appears in its translation."""
    out = []
    for i, pair in _both(t):
        missing = missing_figures(pair.source, pair.target, _base(t.source_lang))
        if missing:
            reason = "figures of the source missing from the translation: " + ", ".join(missing)
            out.append(_failure("numbers", reason, i, pair, missing))
    return out


def check_glossary(t: Translation) -> list[CheckFailure]:
    """Required glossary terms of the source segment appear in its translation."""
    out: list[CheckFailure] = []
    if not t.terms:
        return out
    for i, pair in _both(t):
        missing = missing_terms(pair.target, find_terms(pair.source, t.terms))
        if missing:
            reason = "required glossary terms missing: " + "; ".join(map(describe, missing))
            out.append(_failure("glossary", reason, i, pair, [m.source for m in missing]))
    return out


# ------------------------------------------------------------------------------ script, copy

SCRIPT_LETTERS: dict[str, re.Pattern[str]] = {
    name: re.compile(f"[{ranges}]")
    for name, ranges in {
        "Latin": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff",
        "Arabic": "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff\u0750-\u077f\u08a0-\u08ff"
        "\ufb50-\ufdff\ufe70-\ufefc",
        "Cyrillic": "\u0400-\u0481\u048a-\u052f",
        "Greek": "\u0370-\u03ff",
        "Hebrew": "\u05d0-\u05ea",
        "Han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
        "Kana": "\u3041-\u30ff",
        "Hangul": "\uac00-\ud7af\u1100-\u11ff",
        "Devanagari": "\u0904-\u0939\u0958-\u0961",
        "Thai": "\u0e01-\u0e30",
        "Armenian": "\u0531-\u0587",
        "Georgian": "\u10a0-\u10ff",
    }.items()
}

EXPECTED_SCRIPTS: dict[str, frozenset[str]] = {
    lang.code: frozenset(lang.scripts)
    for lang in LANGUAGES.values()
    if all(script in SCRIPT_LETTERS for script in lang.scripts)
}
"""The scripts a translation into each language is written in (``shared/languages.py``), for the
languages whose letters :data:`SCRIPT_LETTERS` can count (not Dhivehi's Thaana: unchecked)."""

_DOMAIN = re.compile(r"(?:[\w-]+\.)+[a-z]{2,6}", re.IGNORECASE)  # linear: no "." in [\w-]


def _is_address(word: str) -> bool:
    """A URL, an e-mail address or a domain name (news.mashhad.ir): not prose in any script."""
    if "://" in word or "@" in word or word.startswith("www."):
        return True
    return "." in word and _DOMAIN.fullmatch(word.strip(".,;:!?()[]«»\"'،؛")) is not None


MIN_LETTERS = 8
"""Fewer letters than this (a name, a figure) say nothing about the language."""
SCRIPT_SHARE = {"Latin": 0.8}
"""The least share of a segment's letters in the target's script. Latin text has little reason
to carry another script; Arabic, Cyrillic and other targets keep Latin names, acronyms and
brands (ICLEI, Metropolis, BRICS), hence the lower default."""
DEFAULT_SCRIPT_SHARE = 0.6


def script_counts(text: str) -> Counter[str]:
    """Letters per script, URLs, e-mail addresses and domain names left out."""
    prose = " ".join(w for w in text.split() if not _is_address(w))
    counts: Counter[str] = Counter()
    for name, pattern in SCRIPT_LETTERS.items():
        n = len(pattern.findall(prose))
        if n:
            counts[name] = n
    return counts


def _dominant(counts: Counter[str]) -> str | None:
    return counts.most_common(1)[0][0] if counts else None


def check_script(t: Translation) -> list[CheckFailure]:
    """The translation is written in the target language's script (a segment mostly in the
    source's script is the ``copy`` check's)."""
    expected = EXPECTED_SCRIPTS.get(_base(t.target_lang))
    if expected is None:
        return []
    out = []
    for i, pair in _both(t):
        counts = script_counts(pair.target)
        total = sum(counts.values())
        if total < MIN_LETTERS:
            continue
        share = sum(counts[s] for s in expected) / total
        wanted = min(SCRIPT_SHARE.get(s, DEFAULT_SCRIPT_SHARE) for s in expected)
        source_script = _dominant(script_counts(pair.source))
        left_in_source = source_script not in expected and counts[source_script or ""] >= total / 2
        if share >= wanted or left_in_source:  # left in the source's script: that is a copy
            continue
        others = ", ".join(
            f"{s} {n * 100 // total} %" for s, n in counts.most_common() if s not in expected
        )
        reason = (
            f"only {share:.0%} of the letters are in the {'/'.join(sorted(expected))} script "
            f"expected for {t.target_lang}; the rest: {others}"
        )
        out.append(_failure("script", reason, i, pair))
    return out


_WORD = re.compile(r"[^\W\d_]{2,}")
COPY_MIN_WORDS = 5
COPY_OVERLAP = 0.8
"""Share of a translation's words found in its source above which it is a copy, for pairs that
share a script (fa→ar, en→fr): real translations share names, not 80 % of their words."""


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _copied(pair: SegmentPair, expected: frozenset[str] | None) -> str | None:
    """Why this target is a copy of its source, or ``None``."""
    source, target = " ".join(pair.source.split()), " ".join(pair.target.split())
    words = _words(target)
    if source.casefold() == target.casefold() and (len(words) >= 3 or len(target) >= 20):
        return "the translation is the source text unchanged"
    source_counts, target_counts = script_counts(pair.source), script_counts(pair.target)
    source_script = _dominant(source_counts)
    total = sum(target_counts.values())
    if expected and source_script and source_script not in expected and total >= MIN_LETTERS:
        share = target_counts[source_script] / total
        if share >= 0.5:  # check_script leaves exactly these to this check
            return f"left untranslated: {share:.0%} of its letters are in the source's script"
        return None
    if len(words) >= COPY_MIN_WORDS:
        known = set(_words(pair.source))
        overlap = sum(w in known for w in words) / len(words)
        if overlap >= COPY_OVERLAP:
            return f"left untranslated: {overlap:.0%} of its words are the source's"
    return None


def check_copy(t: Translation) -> list[CheckFailure]:
    """No segment is its source copied out, whole or nearly (a Persian sentence left in an
    English translation)."""
    expected = EXPECTED_SCRIPTS.get(_base(t.target_lang))
    out = []
    for i, pair in _both(t):
        reason = _copied(pair, expected)
        if reason:
            out.append(_failure("copy", reason, i, pair))
    return out


# ------------------------------------------------------------------------------ length, repetition

DENSITY = {
    "en": 1.0, "fa": 0.85, "ar": 0.85, "ur": 0.9, "ru": 1.1, "uk": 1.1, "fr": 1.15, "de": 1.15,
    "es": 1.1, "it": 1.1, "pt": 1.1, "tr": 1.0, "zh": 0.3, "ja": 0.4, "ko": 0.45,
}  # fmt: skip
"""Characters per character of English for the same content, roughly (Persian and Arabic omit
short vowels; French and German run longer; Chinese writes a word in one or two characters)."""
LENGTH_BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("fa", "en"): (0.6, 2.2),
    ("fa", "ar"): (0.6, 1.8),
    ("fa", "ru"): (0.7, 2.5),
}
"""Measured pairs; the others get half to twice their expected ratio. Sentence ratios vary a
lot (names and figures do not grow, idioms do), so the bounds catch only gross failures: half a
sentence dropped, text added."""
RUN_ON = 1.5
"""Beyond ``RUN_ON`` times the upper bound a target is run-on output, reported by
``repetition``."""
LENGTH_MIN_SOURCE = 30
"""Shorter sources (names, a short headline) are exempt: one word can legitimately double."""


def length_bounds(source_lang: str, target_lang: str) -> tuple[float, float]:
    s, t = _base(source_lang), _base(target_lang)
    if (s, t) in LENGTH_BOUNDS:
        return LENGTH_BOUNDS[(s, t)]
    if (t, s) in LENGTH_BOUNDS:
        low, high = LENGTH_BOUNDS[(t, s)]
        return 1 / high, 1 / low
    expected = DENSITY.get(t, 1.0) / DENSITY.get(s, 1.0)
    return expected / 2, expected * 2


def _length(text: str) -> int:
    return len(" ".join(text.split()))


def check_length(t: Translation) -> list[CheckFailure]:
    """Each segment's length ratio (target/source, characters) lies within the pair's bounds."""
    low, high = length_bounds(t.source_lang, t.target_lang)
    out = []
    for i, pair in _both(t):
        source_len = _length(pair.source)
        if source_len < LENGTH_MIN_SOURCE:
            continue
        ratio = _length(pair.target) / source_len
        said = f"the translation is {ratio:.2f} times the source's length"
        if ratio < low:
            reason = f"{said} (at least {low:.2f} expected): part of it may be missing"
        elif high < ratio <= high * RUN_ON:
            reason = f"{said} (at most {high:.2f} expected): text may have been added"
        else:
            continue
        out.append(_failure("length", reason, i, pair))
    return out


_TOKEN = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?؟。！？])\s+")
LOOP_MAX_N = 8
LOOP_COPIES = 3
NGRAM_N, NGRAM_COUNT = 6, 3


def _tokens(text: str, target_lang: str) -> list[str]:
    if _base(target_lang) in ("zh", "ja"):
        return [ch for ch in text if ch.isalnum()]
    return [w.casefold() for w in _TOKEN.findall(text)]


def tandem_repeat(tokens: Sequence[str]) -> list[str] | None:
    """The shortest n-gram (up to ``LOOP_MAX_N`` tokens, with a letter) repeated back to back
    ``LOOP_COPIES`` times or more ("the the the", "in the city in the city in the city")."""
    for n in range(1, LOOP_MAX_N + 1):
        run = 0
        for i in range(len(tokens) - n):
            run = run + 1 if tokens[i] == tokens[i + n] else 0
            if run >= n * (LOOP_COPIES - 1):
                gram = list(tokens[i + 1 - run : i + 1 - run + n])
                if any(not w.isdigit() for w in gram):
                    return gram
    return None


def _frequent_ngram(tokens: Sequence[str]) -> list[str] | None:
    counts = Counter(tuple(tokens[i : i + NGRAM_N]) for i in range(len(tokens) - NGRAM_N + 1))
    gram, n = counts.most_common(1)[0] if counts else ((), 0)
    return list(gram) if n >= NGRAM_COUNT else None


def _repeated_sentence(text: str) -> str | None:
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if len(s.split()) >= 4]
    counts = Counter(s.casefold() for s in sentences)
    return next((s for s in sentences if counts[s.casefold()] > 1), None)


def _as_written(gram: Sequence[str], text: str, target_lang: str) -> str:
    """The repeated words as they first appear in ``text`` (for the desk to highlight)."""
    joiner = "" if _base(target_lang) in ("zh", "ja") else r"\W+"
    found = re.search(joiner.join(map(re.escape, gram)), text, re.IGNORECASE)
    return found.group() if found else " ".join(gram)


def _loop(pair: SegmentPair, target_lang: str, source_lang: str) -> tuple[str, str] | None:
    """(reason, evidence) of a repetition the source does not have itself; the evidence is
    the repeated text as written in the translation."""
    tokens = _tokens(pair.target, target_lang)
    gram = tandem_repeat(tokens)
    if gram and tandem_repeat(_tokens(pair.source, source_lang)) is None:
        words = _as_written(gram, pair.target, target_lang)
        return "a repetition loop: the same words over and over", words
    gram = _frequent_ngram(tokens)
    if gram and _frequent_ngram(_tokens(pair.source, source_lang)) is None:
        words = _as_written(gram, pair.target, target_lang)
        return "a repetition loop: the same phrase again and again", words
    sentence = _repeated_sentence(pair.target)
    if sentence and _repeated_sentence(pair.source) is None:
        return "a sentence repeated", sentence
    return None


def check_repetition(t: Translation) -> list[CheckFailure]:
    """No repetition loop, and no run-on output (a target far longer than its source)."""
    high = length_bounds(t.source_lang, t.target_lang)[1] * RUN_ON
    out = []
    for i, pair in _both(t):
        loop = _loop(pair, t.target_lang, t.source_lang)
        if loop:
            out.append(_failure("repetition", loop[0], i, pair, [loop[1][:200]]))
            continue
        target_len = _length(pair.target)
        if target_len >= 60 and target_len > high * max(_length(pair.source), LENGTH_MIN_SOURCE):
            ratio = target_len / max(_length(pair.source), 1)
            reason = f"run-on output: {ratio:.1f} times the source's length (at most {high:.1f})"
            out.append(_failure("repetition", reason, i, pair))
    return out


# ------------------------------------------------------------------------------ markup, empty

MARKUP_TAGS = frozenset(
    _words_of(
        "a b strong i em u s sub sup mark code q cite abbr ul ol li blockquote "
        "h1 h2 h3 h4 h5 h6 table tr td th img figure"
    )
)
"""Tags a translation must keep. Paragraphs, ``div``, ``span`` and ``br`` are left out: the
pipeline rebuilds them from the segments, and a lost paragraph is an empty segment."""
_SAME = {"strong": "b", "em": "i"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MARKUP_TAGS:
            return
        name = _SAME.get(tag, tag)
        if tag == "a":
            href = dict(attrs).get("href")
            name = f'<a href="{href}">' if href else "<a>"
        elif tag == "img":
            name = f'<img src="{dict(attrs).get("src") or ""}">'
        else:
            name = f"<{name}>"
        self.tags[name] += 1


def markup(html: str) -> Counter[str]:
    """The kept tags of ``html``, links and images with their address (``<b>``/``<strong>`` and
    ``<i>``/``<em>`` count as one)."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def check_markup(t: Translation) -> list[CheckFailure]:
    """The translation keeps the source's inline markup and links, no more, no fewer."""
    if t.source_html is None or t.target_html is None:
        return []
    source, target = markup(t.source_html), markup(t.target_html)
    lost, added = source - target, target - source
    if not lost and not added:
        return []
    said = []
    if lost:
        said.append("lost " + ", ".join(f"{n} × {tag}" for tag, n in sorted(lost.items())))
    if added:
        said.append("added " + ", ".join(f"{n} × {tag}" for tag, n in sorted(added.items())))
    return [
        CheckFailure(
            check="markup", reason="markup changed: " + "; ".join(said), evidence=sorted(lost)
        )
    ]


def check_empty(t: Translation) -> list[CheckFailure]:
    """No segment with text comes back empty (or as punctuation only)."""
    return [
        _failure("empty", "the translation of this segment is empty", i, pair)
        for i, pair in enumerate(t.pairs)
        if _has_text(pair.source) and not _has_text(pair.target)
    ]


# ------------------------------------------------------------------------------ all of them

CHECKS: tuple[tuple[str, Callable[[Translation], list[CheckFailure]]], ...] = (
    ("empty", check_empty),
    ("numbers", check_numbers),
    ("glossary", check_glossary),
    ("script", check_script),
    ("copy", check_copy),
    ("length", check_length),
    ("repetition", check_repetition),
    ("markup", check_markup),
)


def run_checks(
    pairs: Sequence[SegmentPair],
    source_lang: str,
    target_lang: str,
    terms: Sequence[Term] = (),
    *,
    source_html: str | None = None,
    target_html: str | None = None,
) -> list[CheckFailure]:
    """Every check's failures, in the order of :data:`CHECKS`; never raises."""
    translation = Translation(
        tuple(pairs), source_lang, target_lang, tuple(terms), source_html, target_html
    )
    failures: list[CheckFailure] = []
    for name, check in CHECKS:
        try:
            failures += check(translation)
        except Exception as exc:  # a broken check is a failed check, never a crashed batch
            reason = f"the check failed to run: {type(exc).__name__}: {exc}"[:500]
            failures.append(CheckFailure(check=name, reason=reason))
    return failures
