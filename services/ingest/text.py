"""Pure text work for ingest: paragraphs, sanitising, fingerprints, ids and the script check.

No I/O here, so every rule is unit-testable. Persian normalisation lives in
:mod:`shared.persian` (translate keys its memory on it too); page extraction in
:mod:`services.ingest.extract`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import nh3

from shared.languages import Script
from shared.languages import language as lookup_language
from shared.persian import search_form

#: Tags an article body may keep; everything active (script, iframe, on* handlers) is removed.
ALLOWED_TAGS = {
    "p",
    "br",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "b",
    "i",
    "a",
    "figure",
    "figcaption",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "*": {"lang"},
}

_SPACE = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
#: Stops at the next "<": an unclosed "<" is text, found without rescanning the rest (issue 18).
_TAG = re.compile(r"<[^<>]+>")


def paragraphs(text: str) -> list[str]:
    """Split plain text into paragraphs: blank lines, or single lines when there are none."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    blocks = _BLANK_LINES.split(text) if _BLANK_LINES.search(text) else text.split("\n")
    return [_squeeze(" ".join(b.split("\n"))).strip() for b in blocks if b.strip()]


def _squeeze(text: str) -> str:
    """Runs of blanks as one space; text without any (most paragraphs) as it is, found by
    substring tests that cost a fraction of the regular expression's scan."""
    if "  " in text or "\t" in text or "\u00a0" in text:
        return _SPACE.sub(" ", text)
    return text


def paragraphs_to_html(paras: Iterable[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paras)


def sanitise_html(fragment: str) -> str:
    """Article HTML safe to put in a feed: no scripts, handlers, iframes or remote tricks."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def html_to_text(fragment: str) -> str:
    """Plain text of sanitised HTML, one paragraph per block element."""
    blocks = re.sub(r"(?i)</(p|h[1-6]|li|blockquote|figcaption|tr)>|<br\s*/?>", "\n\n", fragment)
    text = html.unescape(_TAG.sub("", blocks))
    return "\n\n".join(paragraphs(text))


def fingerprint_form(text: str) -> str:
    """A form for comparing content, never for display: the normaliser's search form, so
    spelling variants (ي/ی, ZWNJ or not, digits) compare equal."""
    return search_form(text)


def content_hash(fields: Mapping[str, Any]) -> str:
    """Stable hash of an article version's content (canonical JSON)."""
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def article_id(publisher: str, external_id: str | None, headline: str, body: str) -> str:
    """Stable id: from the source's own news code when there is one, else from the content."""
    if external_id:
        basis = f"ext\x1f{publisher}\x1f{fingerprint_form(external_id)}"
    else:
        basis = f"fp\x1f{publisher}\x1f{fingerprint_form(headline)}\x1f{fingerprint_form(body)}"
    return f"{publisher}-{hashlib.sha256(basis.encode('utf-8')).hexdigest()[:20]}"


#: Unicode character names by their first words, to the script names of shared/languages.py
#: (``Kana``: Hiragana and Katakana together; full- and half-width forms count as their script).
_NAME_SCRIPTS: tuple[tuple[str, Script], ...] = (
    ("CJK UNIFIED IDEOGRAPH", "Han"),
    ("CJK COMPATIBILITY IDEOGRAPH", "Han"),
    ("HIRAGANA", "Kana"),
    ("KATAKANA", "Kana"),
    ("HALFWIDTH KATAKANA", "Kana"),
    ("HANGUL", "Hangul"),
    ("HALFWIDTH HANGUL", "Hangul"),
    ("FULLWIDTH LATIN", "Latin"),
    ("LATIN", "Latin"),
    ("ARABIC", "Arabic"),
    ("CYRILLIC", "Cyrillic"),
    ("GREEK", "Greek"),
    ("HEBREW", "Hebrew"),
    ("DEVANAGARI", "Devanagari"),
    ("THAI", "Thai"),
    ("ARMENIAN", "Armenian"),
    ("GEORGIAN", "Georgian"),
    ("THAANA", "Thaana"),
)

WEIGHTS: dict[str, float] = {"Han": 3.0, "Kana": 2.0, "Hangul": 2.0}
"""How many letters of an alphabet one character of a script outweighs. An ideograph carries
about a word (Chinese words are one or two characters, English ones about five letters): the
same content takes about 0.3 Chinese characters per English letter, 0.4 for Japanese, 0.45 for
Korean (the translation checks' DENSITY). Counted one to one, the brand names of a Chinese
headline ("Cambrios被Gartner評選為「最酷供應商」": 15 Latin letters, 9 ideographs) outnumber the
Chinese; weighed, the Chinese carries 27 of 42. A kana or a Hangul block is a syllable: two."""

#: Characters that are not letters of an alphabet, named so in a reason.
_CHARACTERS = frozenset(WEIGHTS)


@lru_cache(maxsize=4096)
def script_of(char: str) -> str:
    """The script of a letter, by the names of shared/languages.py (``Han``, ``Kana``,
    ``Latin``…); a script the table does not know by its Unicode name's first word
    (``Ethiopic``); ``?`` for a character without a name."""
    name = unicodedata.name(char, "?")
    for prefix, script in _NAME_SCRIPTS:
        if name.startswith(prefix):
            return script
    return name.split(" ")[0].split("-")[0].title()


def script_weights(text: str) -> dict[str, float]:
    """The letters of ``text`` per script, each weighed by :data:`WEIGHTS` (digits, punctuation
    and marks are no letters: they say nothing about the language)."""
    counts: defaultdict[str, float] = defaultdict(float)
    for char in text:
        if char.isalpha():
            script = script_of(char)
            counts[script] += WEIGHTS.get(script, 1.0)
    return counts


def wrong_script(text: str, language: str) -> str | None:
    """Why ``text`` cannot be in ``language`` (most of its weighed letters are of another script
    than the language's, as shared/languages.py lists them), or None. Names, brands and acronyms
    in another script are fine as long as they are the minority; a language the table does not
    know is not judged."""
    known = lookup_language(language)
    counts = script_weights(text)
    total = sum(counts.values())
    if known is None or not total:
        return None
    if sum(counts.get(s, 0.0) for s in known.scripts) * 2 >= total:
        return None
    found = max((s for s in counts if s not in known.scripts), key=counts.__getitem__)
    kind = "characters" if found in _CHARACTERS else "letters"
    return (
        f"is mostly in {found} {kind}, not in the {'/'.join(known.scripts)} script of "
        f"'{language}': is the language right, or is this the wrong text?"
    )
