"""The one Persian text normaliser every service uses.

Ingest normalises all editor text with :func:`normalise`; translate keys its translation memory
on :data:`NORMALISER_VERSION`, so any change to what :func:`normalise` returns must bump it.
Every function here is pure, idempotent (``f(f(x)) == f(x)``) and never raises on any ``str``,
lone surrogates included.

The rules apply Persian orthography (Persian yeh and kaf, Persian digits): give it Persian text.

Decisions (the display form is the text as the publisher wrote it, minus encoding noise):

* ``ي`` (U+064A) and ``ى`` (U+0649) become ``ی`` (U+06CC); ``ك`` (U+0643) becomes ``ک`` (U+06A9).
  In Persian a final ``ى`` is only a keyboard/encoding variant of ``ی`` and looks the same.
* ``ۀ`` (U+06C0), ``هٔ`` (heh + hamza above) and ``ة`` (U+0629) are kept: they are real spellings
  (the ezafe, Arabic loanwords). Only :func:`search_form` folds them to ``ه``.
* Arabic-Indic digits ``٠-٩`` become Persian ``۰-۹``; Latin digits stay as the publisher wrote
  them (URLs, codes and English text use them on purpose).
* Arabic presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFE, text copied from PDFs) become the
  plain letters they stand for; they render the same but break search and translation.
* Diacritics removed: fatha, damma, kasra, shadda, sukun, dammatan, kasratan (U+064C-U+0652),
  superscript alef (U+0670) and tatweel (U+0640). Fathatan (U+064B) is kept only after ``ا`` or
  ``ء``: the adverbial tanwin of ``کاملاً``/``ابتداءً`` is standard Persian spelling; elsewhere
  it is stray. Hamza above (U+0654), hamza below (U+0655) and maddah (U+0653) are kept: they are
  letters' parts (``خانهٔ``, ``أ``, ``آ``), not vowel marks.
* The text is put in NFC, so decomposed ``ا`` + hamza and ``أ`` are one spelling.
* Removed: C0/C1 controls (those that are whitespace become a space), zero-width space, BOM,
  word joiner and invisible operators (U+2060-U+2064), soft hyphen, the bidi embeddings,
  overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the marks LRM, RLM and ALM
  (U+200E, U+200F, U+061C): stored text has no layout, and stray marks break matching.
* Lone surrogates become U+FFFD (they cannot be encoded as UTF-8); surrogate pairs are joined.
* ZWNJ (U+200C) is Persian spelling (``می‌شود``) and is kept between two word characters
  (letters, marks, digits) of which at least one is a letter or mark; runs collapse to one, and
  it is removed next to spaces or punctuation, at the ends, and between two digits.
  With ``strip=False`` a ZWNJ at an end is kept when the letter side has one (an HTML text node
  such as ``می‌`` before ``<b>شود</b>``).
* ZWNJs that scraping lost are put back where the orthography requires them (``میرسد`` →
  ``می‌رسد``, ``بینالمللی`` → ``بین‌المللی``), with known stems and words only, never a split
  of ``میدان`` or ``تنها``: see :mod:`shared.zwnj` and docs/zwnj.md.
* ZWJ (U+200D) is kept: emoji sequences need it, and Persian uses it to force a joining form
  in abbreviations (``ه‍.ش``).
* Every run of whitespace (Unicode spaces, tabs, newlines, no-break spaces) is one space.
  Paragraph structure is the caller's business (split into paragraphs before normalising).
* Punctuation spacing is conservative and only ever touches spaces: no space before ``، ؛ ؟``;
  no space before ``. : ! , ; ?`` when the punctuation is followed by a space or the end (so
  ``3.5``, ``۱۴۰۲/۱۲/۱۷``, ``07:21``, URLs and e-mail addresses are never touched); one space
  after ``، ؛ ؟`` when a letter follows; no space after ``(`` ``«`` nor before ``)`` ``»``.

persiantools is not used: ``shared`` must not depend on the ingest extra, and
``persiantools.characters.ar_to_fa`` also strips kasra after six particular letters (a partial
diacritic rule) while leaving every other one; one ``str.translate`` table is clearer and faster.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator

from shared.zwnj import restore_zwnj

NORMALISER_VERSION: str = "2"
"""Bump whenever the output of :func:`normalise` changes (translation memory keys on it).
"2": lost ZWNJs restored (:mod:`shared.zwnj`); memory entries keyed on "1" are never read."""

ZWNJ = "\u200c"
_FATHATAN = "\u064b"


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0x3001):  # every control and Unicode space is below U+3001
        ch = chr(cp)
        if unicodedata.category(ch) == "Cc" or ch.isspace():
            table[cp] = " " if ch.isspace() else None
    invisible = [0x00AD, 0x061C, 0x180E, 0x200B, 0x200E, 0x200F, 0xFEFF]
    invisible += [*range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x206A)]
    invisible += [0x0640, *range(0x064C, 0x0653), 0x0670]  # tatweel, harakat, superscript alef
    table.update(dict.fromkeys(invisible))
    table.update({0x064A: "\u06cc", 0x0649: "\u06cc", 0x0643: "\u06a9"})
    table.update({0x0660 + d: chr(0x06F0 + d) for d in range(10)})
    return table


_TABLE = _build_table()
_SURROGATE = re.compile("[\ud800-\udfff]")
_PRESENTATION_FORM = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]")
_STRAY_FATHATAN = re.compile("(?<![\u0627\u0621])\u064b")
_SPACES = re.compile(" {2,}")
_ZWNJ_RUN = re.compile("\u200c{2,}")
_ZWNJ_ONE = re.compile("\u200c")
# Only spaces change: never the characters of numbers, dates, times or URLs.
_SPACE_AFTER_FA_COMMA = re.compile(r"([،؛؟])(?=[^\W\d_])")
_SPACE_BEFORE_FA_PUNCT = re.compile(" +(?=[،؛؟])")
_SPACE_BEFORE_END_PUNCT = re.compile(r" +(?=[.:!,;?،؛؟]+[)»]*(?: |\Z))")
_SPACE_INSIDE_BRACKETS = re.compile("(?<=[(«]) +| +(?=[)»])")


def _fix_surrogates(text: str) -> str:
    """Join surrogate pairs into their character; a lone surrogate becomes U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _wordish(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def _letterish(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _clean_zwnj(text: str, *, strip: bool) -> str:
    """Keep ZWNJ only where it separates two parts of a word (see the module docstring)."""
    text = _ZWNJ_RUN.sub(ZWNJ, text)

    def keep_or_drop(m: re.Match[str]) -> str:
        i = m.start()
        before = text[i - 1] if i > 0 else None
        after = text[i + 1] if i + 1 < len(text) else None
        if before is None or after is None:
            inner = after if before is None else before
            keep = not strip and inner is not None and _letterish(inner)
        else:
            keep = (
                _wordish(before) and _wordish(after) and (_letterish(before) or _letterish(after))
            )
        return ZWNJ if keep else ""

    return _ZWNJ_ONE.sub(keep_or_drop, text)


def _space_punctuation(text: str) -> str:
    text = _SPACE_AFTER_FA_COMMA.sub(r"\1 ", text)
    text = _SPACE_BEFORE_FA_PUNCT.sub("", text)
    text = _SPACE_BEFORE_END_PUNCT.sub("", text)
    return _SPACE_INSIDE_BRACKETS.sub("", text)


# Anything any step of normalise() would change; text without it (most paragraphs of a clean
# article) is returned as it is, which makes ingest several times faster.
_NEEDS_WORK = re.compile(
    "["
    + re.escape("".join(chr(c) for c in sorted(_TABLE) if c != 0x20) + _FATHATAN + ZWNJ)
    + "\ud800-\udfff\ufb50-\ufdff\ufe70-\ufefe]"
    + r"|  |[،؛؟](?=[^\W\d_])| (?=[.:!,;?،؛؟)»])|[(«] "
)


def normalise(text: str, *, strip: bool = True) -> str:
    """The display form: the text as the publisher wrote it, without encoding noise.

    ``strip=False`` keeps one leading/trailing space where there was whitespace, for pieces of
    a larger text such as HTML text nodes (``"a "`` + ``<b>b</b>``).
    """
    if (
        not _NEEDS_WORK.search(text)
        and unicodedata.is_normalized("NFC", text)
        and not (strip and " " in (text[:1], text[-1:]))
    ):
        return restore_zwnj(text)
    return _normalise(text, strip=strip)


def _normalise(text: str, *, strip: bool) -> str:
    if _SURROGATE.search(text):
        text = _fix_surrogates(text)
    text = _PRESENTATION_FORM.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    # NFC before the table composes ي + hamza into ئ before ي becomes ی; NFC after it composes
    # what a removed character (a tatweel, a zero-width space) used to keep apart.
    text = unicodedata.normalize("NFC", text).translate(_TABLE)
    text = unicodedata.normalize("NFC", text)
    if _FATHATAN in text:
        text = _STRAY_FATHATAN.sub("", text)
    text = _SPACES.sub(" ", text)
    if ZWNJ in text:
        text = _SPACES.sub(" ", _clean_zwnj(text, strip=strip))
    text = _space_punctuation(text)
    return restore_zwnj(text.strip(" ") if strip else text)


def _build_search_table() -> dict[int, str]:
    table = {ord(a): b for a, b in zip("يىكٱةەۀ", "ییکاههه", strict=True)}
    table.update({0x200C: "", 0x200D: ""})
    return table


_SEARCH_TABLE = _build_search_table()


def _search_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf"):
        return ""
    if category[0] == "P":
        return " "
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    return ch


class _SearchChars(dict[int, str]):
    """:func:`_search_char` as a ``str.translate`` table, each code point worked out once: the
    per-character Python call was most of the cost of extracting a long page."""

    def __missing__(self, code: int) -> str:
        value = _search_char(chr(code))
        if len(self) < _SEARCH_CHARS_KEPT:
            self[code] = value
        return value


_SEARCH_CHARS_KEPT = 65_536  # every script a page uses, without growing on all of Unicode
_SEARCH_CHARS = _SearchChars()


def search_form(text: str) -> str:
    """A form for fingerprints, de-duplication and search, never displayed.

    Spelling variants that readers treat as the same word become one: no ZWNJ, diacritics or
    punctuation, ``أ إ آ ٱ`` → ``ا``, ``ة ۀ`` → ``ه``, ``ؤ`` → ``و``, ``ئ`` → ``ی``, every digit
    Latin, case folded, one space between words.
    """
    text = unicodedata.normalize("NFKC", normalise(text)).casefold()
    # NFD splits letters from their marks (أ = ا + hamza above) so dropping marks folds them.
    text = unicodedata.normalize("NFD", text).translate(_SEARCH_TABLE).translate(_SEARCH_CHARS)
    return " ".join(unicodedata.normalize("NFC", text).split())


# A tag stops at the next "<" outside quotes, and a comment's end is looked for once, so an
# unclosed "<" or "<!--" costs one step, not a scan of the rest of the fragment (issue 18).
_TAG = re.compile(r"<!--|<[A-Za-z/!?](?:[^<>\"']|\"[^\"]*\"|'[^']*')*>")
_TAG_NOT_COMMENT = re.compile(r"<[A-Za-z/!?](?:[^<>\"']|\"[^\"]*\"|'[^']*')*>")


def _normalise_text_node(segment: str) -> str:
    if not segment:
        return segment
    return html.escape(normalise(html.unescape(segment), strip=False), quote=False)


def normalise_html(fragment: str) -> str:
    """:func:`normalise` applied to the text between the tags of a sanitised fragment.

    Assumes nh3 output: well-formed, attribute values quoted, no comments, no raw-text elements
    (script, style). Tags, and so attribute values (URLs, alt text), are left exactly as they
    are; a ``<`` that starts no tag is text and comes back escaped.
    """
    out: list[str] = []
    pos = 0
    for start, end in _tags(fragment):
        out.append(_normalise_text_node(fragment[pos:start]))
        out.append(fragment[start:end])
        pos = end
    out.append(_normalise_text_node(fragment[pos:]))
    return "".join(out)


def _tags(fragment: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each tag and comment, in order, in one pass over the fragment."""
    last_close = fragment.rfind("-->")
    pos = 0
    while m := _TAG.search(fragment, pos):
        start, end = m.start(), m.end()
        if m.group() == "<!--":
            if last_close >= end:  # closed: it ends at the first "-->"
                end = fragment.index("-->", end) + 3
            elif other := _TAG_NOT_COMMENT.match(fragment, start):
                end = other.end()  # never closed: "<!...>" as any other markup
            else:
                pos = start + 1  # never closed, no ">": text
                continue
        yield start, end
        pos = end
