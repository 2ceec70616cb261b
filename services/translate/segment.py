"""Split an article into translatable segments and put a translation back together (pure).

Engines translate plain text; articles are sanitised HTML (:func:`services.ingest.text.
sanitise_html`). :func:`segment_article` turns a headline and a body into a :class:`Segmented`
plan: ``segments`` (what the engine gets, headline first, then the sentences of every block in
document order) and everything needed to rebuild the body. :func:`assemble_article` takes the
plan and one translation per segment and returns ``(headline, body_html)``::

    plan = segment_article(article.headline, article.body_html)
    routed = await router.translate(plan.segments, article.language, target)
    headline, body_html = assemble_article(plan, routed.texts)

Structure. Block elements (``p``, ``h2``-``h4``, ``li``, ``blockquote``, ``figcaption``, table
cells, ...) come back as they were: same tags, same attributes, same order. Their text is
translated sentence by sentence, sentences joined by one space. Images and other void elements
(``img``, ``br``, ``hr``) come back unchanged; an ``img`` or ``br`` inside a paragraph ends a
sentence there (a line break or a picture is never inside a sentence sent to an engine).
Attribute values are never translated: ``href`` is restored from the plan, and ``img alt`` and
``a title`` stay in the source language (figure captions, which are translated, usually say the
same). Runs of HTML whitespace become one space; ``script``, ``style`` and comments are dropped
(sanitised input has none). A body with no tag at all is plain text: paragraphs are separated by
blank lines and become ``<p>`` (characters are taken literally, ``&amp;`` is not unescaped).

Sentences (:func:`split_sentences`) end at ``.`` ``!`` ``?`` ``؟`` ``…`` ``۔`` followed by
whitespace, with any closing quotes and brackets (``» ) " ”``) kept with the sentence. Not a
sentence end: decimals (``3.5``, ``۳.۵``: no whitespace), initials and abbreviations (``J.``,
``U.S.``, ``ه.ش.``, ``Dr.``), a period before a lowercase word, and a period inside a quote or
bracket pair of at most :data:`MAX_SENTENCE` characters (``«... . ...»`` is one segment).
``؛`` is a semicolon, not an end. A sentence longer than :data:`MAX_SENTENCE` characters is cut
after ``؛``/``;``, then after ``،``/``,``, into pieces of at most that length where it can be.

Inline markup (``a``, ``strong``, ``em``, ``b``, ``i``, ``span lang``, ``sup``, ...):

* Elements around a whole sentence are not sent at all; they are put back around its
  translation. An element that spans a sentence end is split in two there
  (``<b>S1. S2.</b>`` → ``<b>T1.</b> <b>T2.</b>``).
* Elements inside a sentence become numbered markers, ``<x1>...</x1>``, numbered per sentence in
  document order (chat models are told to keep inline tags; the attributes stay here). Their
  translation is parsed back: if every marker comes back exactly once, properly nested, each
  inside the same marker as in the source (siblings may swap places: word order changes), the
  elements are restored around the translated text. Otherwise (a marker lost, duplicated,
  unbalanced or re-nested) that sentence loses its inner markup: its text, without the marker
  tags, comes back alone. A source sentence whose own text looks like a marker gets none.
* ``plain_segments=True`` is for engines that mangle tags (NMT models): segments carry no
  markers, and a sentence keeps only the elements around all of it.

The result is always well-formed HTML whose tags and attributes are those of the input: every
character of a translation is HTML-escaped (engines are untrusted, and ``<script>`` in a
translation is text), and every tag is written from the plan.

Headline. It is always ``segments[0]``, plain text, never split. Engines that use context (chat
models) translate a headline better next to the lead: ``lead_context=True`` sends
:func:`headline_with_context` (the headline, a blank line, ``<context>lead</context>``) and
:func:`assemble_article` applies :func:`strip_context`. The lead (the first paragraph with text,
not a heading or caption, else the first block with text; whole sentences, at most about
:data:`LEAD_MAX` characters) is ``Segmented.lead`` either way, and is translated in the body as
usual. NMT engines should keep the default: the headline alone.

Captions. The images that go with an article (not those inside its body, whose ``alt`` stays)
have captions: ``segment_article(..., captions=[...])`` appends each as one plain-text segment
after the body, so they are pooled and remembered like any sentence, and
:func:`assemble_captions` gives them back in the images' order.

The older :func:`article_segments` / :func:`assemble` (plain-text paragraphs) still work as before.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser


def article_segments(headline: str, body_text: str) -> list[str]:
    """Headline first, then one segment per paragraph."""
    return [headline, *(p for p in body_text.split("\n\n") if p.strip())]


def assemble(translated: list[str]) -> tuple[str, str]:
    """(headline, body_html) from translated segments in :func:`article_segments` order."""
    headline, *paras = translated
    return headline, "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paras)


async def translate_non_blank(
    segments: Sequence[str], translate: Callable[[list[str]], Awaitable[list[str]]]
) -> list[str]:
    """Send only segments with text to ``translate``; blank ones (paragraph breaks, spacing)
    come back unchanged, and every result goes back to its segment's place."""
    wanted = [i for i, s in enumerate(segments) if s.strip()]
    out = list(segments)
    if not wanted:
        return out
    texts = await translate([segments[i] for i in wanted])
    for i, text in zip(wanted, texts, strict=True):
        out[i] = text
    return out


MAX_SENTENCE = 400
"""Characters: longer sentences are cut at ``؛ ; ، ,``; quotes up to this long are not split."""

LEAD_MAX = 500
"""Characters of whole sentences of the lead paragraph taken as context (at least one)."""

MAX_DEPTH = 64
"""Elements nested deeper than this are left out, their text kept (no article needs more)."""

#: Elements whose content is a block of its own (or holds blocks); everything else is inline.
BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details"),
        *("dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "li", "main"),
        *("nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot"),
        *("th", "thead", "tr", "ul"),
    }
)
#: Elements with no content or end tag.
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track"}
)
# Never translated nor written back (sanitised input has none); wbr would cut a word in two.
_DROPPED = frozenset({"script", "style", "template", "noscript", "iframe", "object", "wbr"})

_Attrs = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Element:
    """An element as it is written back: tag name and attributes, values unescaped."""

    tag: str
    attrs: _Attrs = ()

    def start_tag(self) -> str:
        parts = [self.tag]
        for name, value in self.attrs:
            parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
        return f"<{' '.join(parts)}>"

    def end_tag(self) -> str:
        return "" if self.tag in VOID_TAGS else f"</{self.tag}>"


@dataclass(frozen=True, slots=True)
class Marker:
    """``<x{number}>...</x{number}>`` in a segment stands for ``element``; ``parent`` is the
    number of the marker it is inside (0: none)."""

    number: int
    parent: int
    element: Element


@dataclass(frozen=True, slots=True)
class Sentence:
    """Where a translated segment goes: ``segments[index]``, inside ``wrappers`` (outermost
    first), with ``markers`` to restore (none in plain mode or when the sentence has no inner
    markup)."""

    index: int
    wrappers: tuple[Element, ...] = ()
    markers: tuple[Marker, ...] = ()


@dataclass(frozen=True, slots=True)
class Segmented:
    """An article split for translation; hand it back to :func:`assemble_article`.

    ``segments``: headline first, then every sentence in document order (none blank), then
    the image captions. ``body``: the body as a template: literal HTML (block tags, images,
    spaces) and :class:`Sentence` slots. ``lead``: plain text of the lead paragraph (for
    context). ``captions``: per image, the index of its caption in ``segments`` (None: it has
    none); see :func:`assemble_captions`.
    """

    segments: tuple[str, ...]
    body: tuple[str | Sentence, ...]
    lead: str = ""
    lead_context: bool = False
    plain_segments: bool = False
    captions: tuple[int | None, ...] = ()


# --------------------------------------------------------------------------------------------
# Headline context

_CONTEXT_TAG = re.compile(r"<\s*/?\s*context\s*>", re.IGNORECASE)
_CONTEXT_ELEMENT = re.compile(r"<\s*context\s*>.*?(?:<\s*/\s*context\s*>|\Z)", re.I | re.S)


def headline_with_context(headline: str, lead: str) -> str:
    """The headline, a blank line, then ``<context>lead</context>`` (for engines that use
    context, such as chat models); just the headline when there is no lead or either text
    already contains a context tag."""
    lead = " ".join(lead.split())
    if not lead or _CONTEXT_TAG.search(headline) or _CONTEXT_TAG.search(lead):
        return headline
    return f"{headline}\n\n<context>{lead}</context>"


def strip_context(translation: str) -> str:
    """The headline from the translation of :func:`headline_with_context`: the text before
    ``<context>``; if the engine dropped the tags, the first line; if the context came first,
    what is left without it."""
    text = translation.strip()
    found = _CONTEXT_TAG.search(text)
    if found is None:
        return text.split("\n", 1)[0].strip()
    head = text[: found.start()].strip()
    if head:
        return head
    rest = _CONTEXT_TAG.sub("", _CONTEXT_ELEMENT.sub("", text)).strip()
    return rest.split("\n", 1)[0].strip()


# --------------------------------------------------------------------------------------------
# Sentences

_CLOSERS = "\"'»”’)]}›"
_BOUNDARY = re.compile(r"[.!?؟…۔]+[\"'»”’)\]}›]*(?=\s)")
_NEXT = re.compile(r"\s*(\S)")
_LAST_WORD = re.compile(r"\S*\Z")
_OPENERS = "\"'«“‘([{‹"
_LETTERS = r"(?:[^\W\d_][\u200c\u200d]?)"
_DOTTED = re.compile(rf"{_LETTERS}{{1,3}}(?:\.{_LETTERS}{{1,3}})+")  # U.S, e.g, Ph.D, ه.ش
_INITIAL = re.compile(rf"{_LETTERS}")
_TITLES = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "inc", "ltd", "co"),
        *("corp", "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep", "rev", "fig", "vol"),
        *("approx", "dept", "est", "univ", "ave", "jan", "feb", "mar", "apr", "jun", "jul"),
        *("aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_PAIRS = {"(": ")", "[": "]", "{": "}", "«": "»", "“": "”", "‹": "›"}
# Where an overlong sentence may be cut, in order of preference, and the length from which each
# applies: after a semicolon, after a comma, and (a text with no punctuation at all, which an
# engine would truncate) at any space.
_CUTS = (
    (re.compile(r"[؛;](?=\s)"), MAX_SENTENCE),
    (re.compile(r"[،,](?=\s)"), MAX_SENTENCE),
    (re.compile(r"\s"), 2 * MAX_SENTENCE),
)
_LETTER = re.compile(r"[^\W\d_]")
_WORD_WINDOW = 40  # characters looked back for the word before a period


def split_sentences(text: str) -> list[str]:
    """The sentences of one block of plain text, stripped (see the module docstring)."""
    return [text[s:e] for s, e in _sentence_spans(text)]


def _quoted_until(text: str, start: int, end: int) -> list[int]:
    """For each position p in [start, end], the furthest closing position of a matched quote or
    bracket pair (at most MAX_SENTENCE long) that opens before p; -1 if none."""
    furthest = [-1] * (end - start + 1)
    stacks: dict[str, list[int]] = {opener: [] for opener in _PAIRS}
    closer_of = {close: opener for opener, close in _PAIRS.items()}
    straight: list[int] = []
    spans: list[tuple[int, int]] = []
    for i in range(start, end):
        ch = text[i]
        if ch in stacks:
            stacks[ch].append(i)
        elif ch in closer_of and stacks[closer_of[ch]]:
            spans.append((stacks[closer_of[ch]].pop(), i))
        elif ch == '"':
            straight.append(i)
    if len(straight) % 2 == 0:  # odd: no telling which is which, so none counts
        spans.extend(zip(straight[::2], straight[1::2], strict=True))
    for a, b in spans:
        if b - a <= MAX_SENTENCE:
            furthest[a + 1 - start] = max(furthest[a + 1 - start], b)
    for n in range(1, len(furthest)):
        furthest[n] = max(furthest[n], furthest[n - 1])
    return furthest


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether ``match`` (end punctuation followed by whitespace) ends a sentence, as far as
    the punctuation, the word before and the character after tell."""
    following = _NEXT.match(text, match.end())
    if following is not None:
        nxt = following.group(1)
        if nxt.islower() or nxt in ",;:،؛":
            return False
    if match.group().rstrip(_CLOSERS) != ".":
        return True
    last = _LAST_WORD.search(text, max(0, match.start() - _WORD_WINDOW), match.start())
    word = last.group().lstrip(_OPENERS) if last is not None else ""
    return not (_DOTTED.fullmatch(word) or _INITIAL.fullmatch(word) or word.casefold() in _TITLES)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _pack(start: int, end: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """[start, end) cut at some of ``cuts`` into pieces of at most MAX_SENTENCE where possible."""
    pieces: list[tuple[int, int]] = []
    first, last = start, None
    for bound in [*(c for c in cuts if start < c < end), end]:
        if last is not None and bound - first > MAX_SENTENCE:
            pieces.append((first, last))
            first = last
        last = bound
    pieces.append((first, end))
    return pieces


def _shorten(text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
    start, end = _trim(text, start, end)
    if start == end:
        return []
    while level < len(_CUTS) and end - start <= _CUTS[level][1]:
        level += 1
    if level == len(_CUTS):
        return [(start, end)]
    cuts = (m.end() for m in _CUTS[level][0].finditer(text, start, end))
    return [span for s, e in _pack(start, end, cuts) for span in _shorten(text, s, e, level + 1)]


def _sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences of text[start:end] as stripped (start, end) spans, none empty."""
    end = len(text) if end is None else end
    quoted = _quoted_until(text, start, end)
    spans: list[tuple[int, int]] = []
    current = start
    letter = _LETTER.search(text, current, end)  # a sentence needs one ("۱." is not one)
    for match in _BOUNDARY.finditer(text, start, end):
        if letter is None or letter.start() >= match.start():
            continue
        if quoted[match.start() - start] >= match.end():
            continue  # inside a short quotation or brackets
        if _ends_sentence(text, match):
            spans.extend(_shorten(text, current, match.end()))
            current = match.end()
            letter = _LETTER.search(text, current, end)
    spans.extend(_shorten(text, current, end))
    return spans


# --------------------------------------------------------------------------------------------
# Markers

_MARKER = re.compile(r"<\s*(/?)\s*x\s*(\d{1,4})\s*(/?)\s*>", re.IGNORECASE)


def _restore_markers(text: str, markers: Sequence[Marker]) -> str | None:
    """``text`` as HTML with its markers replaced by their elements, or None when the markers
    are not exactly those sent (each once, balanced, inside the same marker as before)."""
    by_number = {m.number: m for m in markers}
    out: list[str] = []
    stack: list[int] = []
    opened: set[int] = set()
    pos = 0
    for found in _MARKER.finditer(text):
        out.append(html.escape(text[pos : found.start()], quote=False))
        pos = found.end()
        closing, number, empty = found.group(1), int(found.group(2)), found.group(3)
        marker = by_number.get(number)
        if marker is None or empty:
            return None
        if closing:
            if not stack or stack[-1] != number:
                return None
            stack.pop()
            out.append(marker.element.end_tag())
        else:
            if number in opened or (stack[-1] if stack else 0) != marker.parent:
                return None
            opened.add(number)
            stack.append(number)
            out.append(marker.element.start_tag())
    out.append(html.escape(text[pos:], quote=False))
    if stack or len(opened) != len(by_number):
        return None
    return "".join(out)


def _sentence_html(sentence: Sentence, translation: str) -> str:
    text = translation.strip()
    inner = _restore_markers(text, sentence.markers) if sentence.markers else None
    if inner is None:
        if sentence.markers:
            text = _MARKER.sub("", text).strip()  # the source had no marker-like text
        inner = html.escape(text, quote=False)
    starts = "".join(w.start_tag() for w in sentence.wrappers)
    ends = "".join(w.end_tag() for w in reversed(sentence.wrappers))
    return f"{starts}{inner}{ends}"


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass(slots=True)
class _Node:
    tag: str
    attrs: _Attrs
    children: list[_Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """A forgiving tree: stray end tags are ignored, unclosed elements close at the end, and
    elements nested deeper than MAX_DEPTH are left out (their text is kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("", ())
        self._open = [self.root]
        self._left_out: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self._open) > MAX_DEPTH and tag not in VOID_TAGS:
            self._left_out[tag] = self._left_out.get(tag, 0) + 1
            return
        node = _Node(tag, tuple(attrs))
        self._open[-1].children.append(node)
        if tag not in VOID_TAGS:
            self._open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open[-1].children.append(_Node(tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self._left_out.get(tag):
            self._left_out[tag] -= 1
            return
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)


_TAG_LIKE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def _parse(body: str) -> _Node:
    if not _TAG_LIKE.search(body):  # plain text: paragraphs separated by blank lines
        paras = _BLANK_LINES.split(body.replace("\r\n", "\n").replace("\r", "\n"))
        return _Node("", (), [_Node("p", (), [p]) for p in paras if p.strip()])
    builder = _TreeBuilder()
    builder.feed(body)
    builder.close()
    return builder.root


# --------------------------------------------------------------------------------------------
# Segmenting

_HTML_SPACE = " \t\n\r\f"


@dataclass(slots=True)
class _Inline:
    element: int
    children: list[_Inline | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _Run:
    """A run of inline content, flattened: each character with the elements it is inside."""

    def __init__(self, nodes: Sequence[_Node | str]) -> None:
        self.chars: list[str] = []
        self.stacks: list[tuple[int, ...]] = []
        self.voids: list[tuple[int, tuple[int, ...], Element]] = []
        self.elements: list[Element] = []
        self._space = True  # leading whitespace goes
        self._add(nodes, ())

    def _add(self, nodes: Sequence[_Node | str], stack: tuple[int, ...]) -> None:
        for node in nodes:
            if isinstance(node, str):
                for ch in node:
                    if ch in _HTML_SPACE:
                        if self._space:
                            continue
                        ch = " "
                    self._space = ch == " "
                    self.chars.append(ch)
                    self.stacks.append(stack)
            elif node.tag in _DROPPED:
                continue
            elif node.tag in VOID_TAGS:
                self.voids.append((len(self.chars), stack, Element(node.tag, node.attrs)))
                self._space = False  # a space on either side of an image is kept
            else:
                self.elements.append(Element(node.tag, node.attrs))
                self._add(node.children, (*stack, len(self.elements) - 1))

    def wrap(self, stack: tuple[int, ...], inner: str) -> str:
        starts = "".join(self.elements[i].start_tag() for i in stack)
        ends = "".join(self.elements[i].end_tag() for i in reversed(stack))
        return f"{starts}{inner}{ends}"

    def tree(self, start: int, end: int, depth: int) -> list[_Inline | str]:
        """The characters [start, end) as text and elements below the first ``depth``."""
        root: list[_Inline | str] = []
        path: list[_Inline] = []
        for stack, group in itertools.groupby(
            range(start, end), key=lambda i: self.stacks[i][depth:]
        ):
            keep = 0
            while keep < len(path) and keep < len(stack) and path[keep].element == stack[keep]:
                keep += 1
            del path[keep:]
            for element in stack[keep:]:
                node = _Inline(element)
                (path[-1].children if path else root).append(node)
                path.append(node)
            text = "".join(self.chars[i] for i in group)
            target = path[-1].children if path else root
            if target and isinstance(target[-1], str):
                target[-1] += text
            else:
                target.append(text)
        return _unwrap_blank(root)


def _unwrap_blank(nodes: list[_Inline | str]) -> list[_Inline | str]:
    """Elements holding only whitespace become that whitespace."""
    out: list[_Inline | str] = []
    for node in nodes:
        if isinstance(node, _Inline):
            node.children = _unwrap_blank(node.children)
            if node.text().strip():
                out.append(node)
                continue
            node = node.text()
        if out and isinstance(out[-1], str):
            out[-1] += node
        else:
            out.append(node)
    return out


def _common_prefix(stacks: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    first = min(stacks, key=len)
    for n, element in enumerate(first):
        if any(s[n] != element for s in stacks):
            return first[:n]
    return first


class _Builder:
    def __init__(self, plain_segments: bool) -> None:
        self.plain = plain_segments
        self.segments: list[str] = []
        self.body: list[str | Sentence] = []
        self.lead: list[str] | None = None  # from the first paragraph-like block
        self.fallback_lead: list[str] | None = None  # from the first block with text

    def block(self, children: Sequence[_Node | str], container: str = "") -> None:
        run: list[_Node | str] = []
        for child in children:
            if isinstance(child, str) or child.tag not in BLOCK_TAGS:
                run.append(child)
                continue
            self.run(run, container)
            run = []
            element = Element(child.tag, child.attrs)
            self.body.append(element.start_tag())
            self.block(child.children, child.tag)
            self.body.append(element.end_tag())
        self.run(run, container)

    def run(self, nodes: Sequence[_Node | str], container: str) -> None:
        flat = _Run(nodes)
        text = "".join(flat.chars)
        items: list[tuple[int, int, str | None]] = []  # (start, end, void HTML or None)
        piece_start = 0
        for position, stack, void in [*flat.voids, (len(text), (), None)]:
            spans = _sentence_spans(text, piece_start, position)
            items.extend((s, e, None) for s, e in spans)
            if void is not None:
                items.append((position, position, flat.wrap(stack, void.start_tag())))
            piece_start = position
        sentences: list[str] = []
        previous: int | None = None
        for start, end, void_html in items:
            if previous is not None and start > previous:
                self.body.append(" ")  # the gap between two items is whitespace
            previous = end
            if void_html is not None:
                self.body.append(void_html)
            else:
                self.body.append(self.sentence(flat, start, end))
                sentences.append(text[start:end])
        if sentences and not self.lead and container not in _NOT_LEAD:
            self.lead = _lead(sentences)
        if sentences and self.fallback_lead is None:
            self.fallback_lead = _lead(sentences)

    def sentence(self, flat: _Run, start: int, end: int) -> Sentence:
        wrappers = _common_prefix(flat.stacks[start:end])
        plain = "".join(flat.chars[start:end])
        nodes = flat.tree(start, end, len(wrappers))
        markers: list[Marker] = []
        segment = plain
        if (
            not self.plain
            and not _MARKER.search(plain)
            and any(isinstance(n, _Inline) for n in nodes)
        ):
            parts: list[str] = []

            def write(children: list[_Inline | str], parent: int) -> None:
                for child in children:
                    if isinstance(child, str):
                        parts.append(child)
                        continue
                    number = len(markers) + 1
                    markers.append(Marker(number, parent, flat.elements[child.element]))
                    parts.append(f"<x{number}>")
                    write(child.children, number)
                    parts.append(f"</x{number}>")

            write(nodes, 0)
            segment = "".join(parts)
        self.segments.append(segment)
        return Sentence(
            index=len(self.segments) - 1,
            wrappers=tuple(flat.elements[i] for i in wrappers),
            markers=tuple(markers),
        )


# Blocks that are not the lead: headings, captions, table cells (an article may open with them).
_NOT_LEAD = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "td", "th"})


def _lead(sentences: Sequence[str]) -> list[str]:
    lead = [sentences[0]]
    for sentence in sentences[1:]:
        if sum(len(s) + 1 for s in lead) + len(sentence) > LEAD_MAX:
            break
        lead.append(sentence)
    return lead


def segment_article(
    headline: str,
    body_html: str,
    *,
    lead_context: bool = False,
    plain_segments: bool = False,
    captions: Sequence[str | None] = (),
) -> Segmented:
    """Plan the translation of an article: segments (headline first, then the sentences of
    each block, then the image captions) and the structure to rebuild it with
    :func:`assemble_article` and :func:`assemble_captions`.

    ``body_html`` is sanitised HTML, or plain text when it has no tag at all.
    ``lead_context``: the headline segment carries the lead as context
    (:func:`headline_with_context`), for engines that use it. ``plain_segments``: no inline
    markers in segments; only markup around a whole sentence survives. ``captions``: one per
    image of the article (None: no caption), each a plain-text segment of its own, after the
    body: a caption is short and says what the picture shows, so it is neither split into
    sentences nor part of the lead.
    """
    builder = _Builder(plain_segments)
    builder.segments.append(headline)
    builder.block(_parse(body_html).children)
    lead = " ".join(builder.lead or builder.fallback_lead or [])
    if lead_context:
        builder.segments[0] = headline_with_context(headline, lead)
    caption_slots: list[int | None] = []
    for caption in captions:
        text = " ".join((caption or "").split())
        caption_slots.append(len(builder.segments) if text else None)
        if text:
            builder.segments.append(text)
    return Segmented(
        segments=tuple(builder.segments),
        body=tuple(builder.body),
        lead=lead,
        lead_context=lead_context,
        plain_segments=plain_segments,
        captions=tuple(caption_slots),
    )


def assemble_article(plan: Segmented, translations: Sequence[str]) -> tuple[str, str]:
    """(headline, body_html) from one translation per ``plan.segments``, in order.

    The headline is plain text (stripped; the context removed when the plan sent one). The
    body has the source's block structure; every translated character is escaped, and markup
    that a translation garbled is dropped for that sentence (see the module docstring).
    """
    if len(translations) != len(plan.segments):
        raise ValueError(f"{len(translations)} translations for {len(plan.segments)} segments")
    headline = strip_context(translations[0]) if plan.lead_context else translations[0].strip()
    body = "".join(
        part if isinstance(part, str) else _sentence_html(part, translations[part.index])
        for part in plan.body
    )
    return headline, body


def assemble_captions(plan: Segmented, translations: Sequence[str]) -> tuple[str | None, ...]:
    """The translated caption of each image, in ``plan.captions`` order (None where the source
    had none or the translation is blank): plain text, whitespace collapsed, never HTML (feeds
    escape it where they write it)."""
    if len(translations) != len(plan.segments):
        raise ValueError(f"{len(translations)} translations for {len(plan.segments)} segments")
    return tuple(
        None if slot is None else (" ".join(translations[slot].split()) or None)
        for slot in plan.captions
    )
