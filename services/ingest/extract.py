"""Turn a raw news page (saved as text, or HTML) into its article and nothing else.

Pure functions, no I/O. Editors forward whole pages: agency names, slogans, menus, sponsor
lists, related news and comment forms come with the article, and scrapers print the headline
and the lead more than once. The rules below are general (line length, punctuation, repetition,
end markers), so a new site needs no code; the markers are listed as module constants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import lxml.html  # type: ignore[import-untyped]
import trafilatura
from rapidfuzz.distance import Indel

from services.ingest.dates import WEEKDAYS, DateError, find_date, latin_digits
from services.ingest.dates import parse_date as _parse_date
from services.ingest.text import fingerprint_form
from shared.display import JALALI_MONTHS

#: A short line starting with one of these ends the article (compared without spaces or ZWNJ).
END_MARKERS = (
    "انتهای پیام",
    "ارسال نظر",
    "نظر شما",
    "نظرات شما",
    "محتوای مشابه",
    "اخبار مرتبط",
    "خبرهای مرتبط",
    "مطالب مرتبط",
    "منبع محتوا",
    "پیشنهاد سردبیر",
    "برچسب ها",
    "کلمات کلیدی",
    "لینک کوتاه",
    "اشتراک گذاری",
    "پربازدیدترین",
    "آخرین اخبار",
)
#: Words that may sit next to a date, time or news code on a meta line.
META_WORDS = ("تاریخ انتشار", "زمان انتشار", "تاریخ", "ساعت", "انتشار", "ماه")
#: A line shorter than this without final punctuation is not a paragraph (headline, menu item).
SHORT_LINE_CHARS = 100
HEADLINE_MAX_CHARS = 160
#: Headlines are looked for among this many non-empty lines at the top of a text page.
TOP_LINES = 12
#: A date may be printed up to this many lines before the headline (after it is preferred).
HEADER_LINES_BEFORE = 3
#: This many short lines in a row after the body are a menu or a sponsor list: the body ended.
MENU_RUN = 3
#: A paragraph this similar to the start of a longer one is a truncated copy of it.
NEAR_DUPLICATE_RATIO = 0.9
NEAR_DUPLICATE_MIN_CHARS = 50
NEAR_DUPLICATE_START = 24
#: A paragraph is compared with at most this many earlier ones that start like it. A scraper
#: prints a paragraph two or three times, near each other; a page of hundreds of paragraphs that
#: all start alike (issue 18) would otherwise cost a comparison per pair: minutes.
NEAR_DUPLICATE_CANDIDATES = 8
#: Longer paragraphs are compared by their first and their last this many characters, so one
#: comparison costs the same whatever the paragraph's length.
NEAR_DUPLICATE_WINDOW = 2000
#: Extraction reads pages up to this size (2 MiB of Persian text is about a million characters;
#: news pages are a few hundred thousand, most of it markup)...
MAX_PAGE_CHARS = 1_000_000
#: ...of up to this many blocks (non-empty lines of text, or paragraphs): an article has tens,
#: a page around it a few hundred. More is not one article, and only costs time.
MAX_BLOCKS = 5_000

_SENTENCE_END = tuple(".!?؟…")
_CLAUSE_END = tuple(":;؛")  # kickers, lines introducing a quote: not headlines, not sub-headings
_NOT_HEADLINE_END = (".", "،", *_CLAUSE_END)  # a headline may end in "?" or "!"
_CLOSING = "»\"')]}”’ "
_CODE = re.compile(r"(?:[کك]د|شناسه)\s*(?:خبر|مطلب)\s*[:：]?\s*(?P<code>[0-9۰-۹٠-٩]+)")
_ARABIC_LETTER = re.compile(
    r"[\u0621-\u064a\u066e-\u06d3\u06fa-\u06fc\u06ff\ufb50-\ufdff\ufe70-\ufefc]"
)
_GLUED = str.maketrans({"ي": "ی", "ك": "ک", "\u200c": None, " ": None})
_META_WORDS = sorted(
    (w.translate(_GLUED) for w in (*META_WORDS, *JALALI_MONTHS, *WEEKDAYS)), key=len
)
_META = re.compile("|".join([_CODE.pattern, *reversed(_META_WORDS)]))  # longest words first
_BLOCK_TAGS = (
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "td", "tr", "table",
    "section", "article", "header", "footer", "nav", "aside", "blockquote", "figcaption", "time",
    "dd", "dt", "form", "label", "button", "textarea", "option",
)  # fmt: skip
_HIDDEN = "//script|//style|//noscript|//template|//head"
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ")
#: Printable letters (Lisu, Mro) standing in for ZWNJ while trafilatura runs: it drops
#: non-printable characters, ZWNJ and private-use ones included.
_ZWNJ_STAND_INS = ("\ua4d0", "\ua4d1", "\U00016a40", "\U00016a41")
_TRAFILATURA_BLOCKS = ("p", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6")


class Block(NamedTuple):
    tag: Literal["p", "h3"]  # h3 = a sub-heading inside the body
    text: str


@dataclass(frozen=True)
class Page:
    headline: str
    blocks: list[Block]  # the body; the lead paragraph first
    news_code: str | None  # the source's "کد خبر", in Latin digits
    date_text: str | None  # the publication date as printed, or None
    published: datetime | None  # aware UTC; None when not printed or not readable


class ExtractionError(ValueError):
    """The page has no recognisable article (no headline, or no body)."""


def _clean(line: str) -> str:
    """Trim and collapse spaces; the text stays as printed (normalising happens later)."""
    return " ".join(line.split())


def _key(text: str) -> str:
    """Comparison form: fingerprint, Arabic yeh/kaf folded, no spaces (ZWNJ is already gone)."""
    return fingerprint_form(text).translate(str.maketrans("يك", "یک", " "))


_END_KEYS = tuple(_key(m) for m in END_MARKERS)


def _has_arabic(text: str) -> bool:
    return _ARABIC_LETTER.search(text) is not None


def _ends_with(line: str, endings: tuple[str, ...]) -> bool:
    return line.rstrip(_CLOSING).endswith(endings)


def _is_short(line: str) -> bool:
    """Not a paragraph: a headline, sub-heading or menu item (no sentence or clause end)."""
    return len(line) < SHORT_LINE_CHARS and not _ends_with(line, _SENTENCE_END + _CLAUSE_END)


def _is_meta(line: str) -> bool:
    """Date, time, "|" and news-code lines: no letters left once those are taken out."""
    date = find_date(line)
    rest = line.replace(date, "") if date else line
    return not any(ch.isalpha() for ch in _META.sub("", rest.translate(_GLUED)))


def _is_end(line: str) -> bool:
    return len(line) < SHORT_LINE_CHARS and _key(line).startswith(_END_KEYS)


def _is_paragraph(line: str) -> bool:
    """A sentence or a long line; a short kicker ending in "؛" is not one."""
    long = len(line) >= SHORT_LINE_CHARS or _ends_with(line, _SENTENCE_END)
    return long and not _is_meta(line)


def _could_be_headline(line: str) -> bool:
    return (
        bool(line)
        and len(line) <= HEADLINE_MAX_CHARS
        and not _ends_with(line, _NOT_HEADLINE_END)
        and not _is_meta(line)
        and not _is_end(line)
    )


def _headline_index(lines: Sequence[str]) -> int:
    """Index of the headline in a text page.

    Scrapers print the headline twice near the top, so a repeated headline-like line wins; else
    the longest headline-like line before the first paragraph (agency names, slogans and
    kickers ending in "؛" are shorter or excluded).
    """
    top = [i for i, line in enumerate(lines) if line][:TOP_LINES]
    top_keys = [_key(lines[i]) for i in top]
    for i in top:
        if _could_be_headline(lines[i]) and top_keys.count(_key(lines[i])) > 1:
            return i
    first_paragraph = next((i for i, line in enumerate(lines) if _is_paragraph(line)), len(lines))
    candidates = [i for i in range(first_paragraph) if _could_be_headline(lines[i])]
    if not candidates:
        raise ExtractionError("no headline found in the page")
    return max(candidates, key=lambda i: len(lines[i]))


def _header_date(lines: Sequence[str], headline_at: int) -> str | None:
    """The date printed around the headline: after it (before the lead), else just before it.

    Dates after the headline are preferred because site headers print today's date above it.
    """
    end = next(
        (i for i in range(headline_at + 1, len(lines)) if _is_paragraph(lines[i])), len(lines)
    )
    after = find_date("\n".join(lines[headline_at + 1 : end]))
    start = max(0, headline_at - HEADER_LINES_BEFORE)
    return after or find_date("\n".join(lines[start:headline_at]))


def _news_code(text: str) -> str | None:
    m = _CODE.search(text)
    return latin_digits(m.group("code")) if m else None


def _similar(a: str, b: str) -> bool:
    """At least NEAR_DUPLICATE_RATIO alike (difflib's ratio on the longest common
    subsequence), in bit-parallel C: microseconds for a window, where difflib took milliseconds."""
    return Indel.normalized_similarity(a, b, score_cutoff=NEAR_DUPLICATE_RATIO) > 0


def _same_paragraph(a: str, b: str) -> bool:
    """Equal comparison forms, or the shorter is a (slightly misspelt) truncated copy.

    Beyond NEAR_DUPLICATE_WINDOW characters only the first and the last window of the shorter
    are compared (with the same stretch of the longer): the cost of one comparison is bounded.
    """
    short, long = sorted((a, b), key=len)
    if short == long:
        return True
    if len(short) < NEAR_DUPLICATE_MIN_CHARS:
        return False
    start = long[: len(short)]
    if len(short) <= NEAR_DUPLICATE_WINDOW:
        return _similar(short, start)
    window = NEAR_DUPLICATE_WINDOW
    return _similar(short[:window], start[:window]) and _similar(short[-window:], start[-window:])


def _dedupe(blocks: Iterable[Block]) -> list[Block]:
    """Each paragraph once: the longest copy, at the position of the first.

    Copies with the same comparison form are found by a lookup. Truncated or misspelt copies
    start like the original, so a paragraph is compared only with the first
    NEAR_DUPLICATE_CANDIDATES kept paragraphs with the same first NEAR_DUPLICATE_START
    characters: the work is linear in the page, whatever the page (issue 18).
    """
    kept: list[Block] = []
    keys: list[str] = []
    at: dict[str, int] = {}
    by_start: dict[str, list[int]] = {}
    for block in blocks:
        key = fingerprint_form(block.text)
        alike = by_start.setdefault(key[:NEAR_DUPLICATE_START], [])
        same = at.get(key)
        if same is None:
            same = next((i for i in alike if _same_paragraph(key, keys[i])), None)
        if same is None:
            if len(alike) < NEAR_DUPLICATE_CANDIDATES:
                alike.append(len(kept))
            at[key] = len(kept)
            kept.append(block)
            keys.append(key)
        elif len(key) > len(keys[same]):
            kept[same], keys[same] = kept[same]._replace(text=block.text), key
            at[key] = same
    return kept


def _body(candidates: Iterable[Block], headline: str, cut_menus: bool) -> list[Block]:
    """The article body from the blocks after the headline.

    Stops at an end marker; drops meta lines, headline repeats, Latin-only junk in a Persian
    page, short lines before the lead and after the last paragraph, and (for text pages, where
    menus were not removed) everything from a run of MENU_RUN short lines. Short lines left
    between paragraphs are sub-headings.
    """
    persian = _has_arabic(headline)
    headline_key = _key(headline)
    blocks: list[Block] = []
    for block in candidates:
        text = _clean(block.text)
        if text and _is_end(text):
            if any(not _is_short(b.text) for b in blocks):
                break
            continue  # a marker in a menu above the lead
        if not text or _is_meta(text) or _key(text) == headline_key:
            continue
        if persian and not _has_arabic(text):
            continue
        blocks.append(block._replace(text=text))
    short = [b.tag == "h3" or _is_short(b.text) for b in blocks]
    paragraphs = [i for i, is_short in enumerate(short) if not is_short]
    if not paragraphs:
        return []
    end = len(blocks)
    if cut_menus:
        runs = (
            i for i in range(paragraphs[0], end) if short[i : i + MENU_RUN] == [True] * MENU_RUN
        )
        end = next(runs, end)
    last = max(i for i in paragraphs if i < end)
    kept = _dedupe(blocks[paragraphs[0] : last + 1])
    return [b._replace(tag="h3") if _is_short(b.text) else b for b in kept]


def _page(
    headline: str,
    blocks: list[Block],
    date_text: str | None,
    news_code: str | None,
    timezone: str,
) -> Page:
    """Assemble the page; without a body there is no article.

    A printed date that cannot be read leaves `published` None but keeps `date_text`: one odd
    date should not lose the article. The caller then records the submission time, and an
    editor can still see what the page printed.
    """
    if not blocks:
        raise ExtractionError("no article body found in the page")
    published = None
    if date_text is not None:
        try:
            published = _parse_date(date_text, timezone)
        except DateError:
            published = None
    return Page(headline, blocks, news_code, date_text, published)


def _lines(raw: str) -> list[str]:
    return [_clean(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _check_size(raw: str) -> None:
    """Refuse a page larger than extraction reads: the work per page has a ceiling."""
    if len(raw) > MAX_PAGE_CHARS:
        raise ExtractionError(
            f"the page is {len(raw):,} characters; extraction reads at most {MAX_PAGE_CHARS:,}"
        )


def _check_blocks(count: int) -> None:
    if count > MAX_BLOCKS:
        raise ExtractionError(
            f"the page has {count:,} blocks of text; an article has at most {MAX_BLOCKS:,} "
            "(is this one article?)"
        )


def from_text(raw: str, timezone: str = "Asia/Tehran") -> Page:
    """A page a scraper saved as text: one block per line, headline printed near the top."""
    _check_size(raw)
    lines = _lines(raw)
    _check_blocks(sum(1 for line in lines if line))
    at = _headline_index(lines)
    body = _body((Block("p", line) for line in lines[at + 1 :]), lines[at], cut_menus=True)
    return _page(lines[at], body, _header_date(lines, at), _news_code(raw), timezone)


def _parse_html(raw: str) -> lxml.html.HtmlElement:
    """lxml's HTML parser only: no network, no DTD; bytes so an encoding declaration is fine."""
    parser = lxml.html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)
    try:
        return lxml.html.document_fromstring(raw.encode("utf-8", "replace"), parser=parser)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ExtractionError("the page is not readable HTML") from exc


def _meta(tree: lxml.html.HtmlElement, name: str) -> str:
    values = tree.xpath(f"//meta[@property='{name}' or @name='{name}']/@content")
    return _clean(str(values[0])) if values else ""


def _strip_site_name(title: str, site_names: set[str]) -> str:
    for sep in _TITLE_SEPARATORS:
        head, found, tail = title.rpartition(sep)
        if found and head and tail in site_names:
            return head.strip()
        head, found, tail = title.partition(sep)
        if found and tail and head in site_names:
            return tail.strip()
    return title


def _html_headline(tree: lxml.html.HtmlElement) -> str:
    """<h1>, else og:title or <title> without the site name ("headline - site name").

    Of several <h1> (sites put the logo in one), the one the <title> repeats.
    """
    title = _clean("".join(tree.xpath("//title//text()")))
    h1s = [text for h1 in tree.iter("h1") if (text := _clean(h1.text_content()))]
    if h1s:
        title_key = _key(title)
        return next((h for h in h1s if _key(h) in title_key), h1s[0])
    site_names = {_meta(tree, "og:site_name")}
    for sep in _TITLE_SEPARATORS:
        if sep in title:
            site_names.add(title.rpartition(sep)[2])
            break
    for candidate in (_meta(tree, "og:title"), title):
        if headline := _strip_site_name(candidate, site_names - {""}):
            return headline
    raise ExtractionError("no headline found in the page")


def _visible_lines(tree: lxml.html.HtmlElement) -> list[str]:
    """The page's visible text, one line per block element (the tree is changed)."""
    for hidden in tree.xpath(_HIDDEN):
        hidden.drop_tree()
    for element in tree.iter(*_BLOCK_TAGS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    lines = [line for line in _lines(tree.text_content()) if line]
    _check_blocks(len(lines))
    return lines


def _trafilatura_blocks(raw: str) -> list[Block]:
    """The main text as trafilatura finds it, ZWNJ kept by a printable stand-in."""
    stand_in = next((c for c in _ZWNJ_STAND_INS if c not in raw), None)
    protected = raw.replace("\u200c", stand_in) if stand_in else raw
    result = trafilatura.extract(
        protected,
        output_format="html",
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        with_metadata=False,
    )
    if not result:
        return []
    blocks: list[Block] = []
    for element in _parse_html(result).iter(*_TRAFILATURA_BLOCKS):
        if any(True for _ in element.iterdescendants(*_TRAFILATURA_BLOCKS)):
            continue  # its inner blocks come on their own
        text = _clean(element.text_content())
        if stand_in:
            text = text.replace(stand_in, "\u200c")
        blocks.append(Block("h3" if element.tag.startswith("h") else "p", text))
    return blocks


def from_html(raw: str, timezone: str = "Asia/Tehran") -> Page:
    """A raw HTML page: headline, date and code from the page around <h1>, body by trafilatura.

    When trafilatura finds nothing usable, the text-page rules run on the visible text.
    """
    _check_size(raw)
    tree = _parse_html(raw)
    headline = _html_headline(tree)
    published_meta = _meta(tree, "article:published_time")
    lines = _visible_lines(tree)
    headline_key = _key(headline)
    at = next((i for i, line in enumerate(lines) if _key(line) == headline_key), None)
    date_text = _header_date(lines, at) if at is not None else None
    date_text = date_text or find_date(published_meta)
    body = _body(_trafilatura_blocks(raw), headline, cut_menus=False)
    if not body:
        rest = lines[at + 1 :] if at is not None else lines
        body = _body((Block("p", line) for line in rest), headline, cut_menus=True)
    return _page(headline, body, date_text, _news_code("\n".join(lines)), timezone)
