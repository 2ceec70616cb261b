"""Pure text work for ingest: paragraphs, sanitising, fingerprints and ids.

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
from collections.abc import Iterable, Mapping
from typing import Any

import nh3

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
    return [_SPACE.sub(" ", " ".join(b.split("\n"))).strip() for b in blocks if b.strip()]


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


# The script each language is written in, as Unicode names its letters ("ARABIC LETTER ...").
SCRIPTS = {
    **dict.fromkeys(("fa", "ar", "ur", "ps", "ku"), "ARABIC"),
    **dict.fromkeys(("ru", "uk", "be", "bg", "sr", "kk", "ky", "tg", "mn"), "CYRILLIC"),
    **dict.fromkeys(("en", "fr", "de", "es", "it", "pt", "tr", "az", "uz", "nl", "pl"), "LATIN"),
    "zh": "CJK",
    "hy": "ARMENIAN",
    "ka": "GEORGIAN",
    "el": "GREEK",
    "he": "HEBREW",
}


def script_of(char: str) -> str:
    return unicodedata.name(char, "?").split(" ")[0]


def wrong_script(text: str, language: str) -> str | None:
    """Why ``text`` cannot be in ``language`` (most of its letters are of another script), or
    None. Names and acronyms in another script are fine as long as they are the minority."""
    want = SCRIPTS.get(language.split("-")[0].lower())
    letters = [script_of(c) for c in text if c.isalpha()]
    if want is None or not letters or letters.count(want) * 2 >= len(letters):
        return None
    found = max(set(letters), key=letters.count)
    return (
        f"is mostly in {found.title()} letters, not in the {want.title()} script of "
        f"'{language}': is the language right, or is this the wrong text?"
    )
