"""Segmenting articles for translation and putting translations back into their HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.translate.segment import (
    MAX_SENTENCE,
    Segmented,
    article_segments,
    assemble,
    assemble_article,
    headline_with_context,
    segment_article,
    split_sentences,
    strip_context,
)

ZWNJ = "\u200c"
VOID = {"br", "img", "hr"}
BLOCKS = {"p", "h2", "h3", "h4", "li", "ul", "ol", "blockquote", "figure", "figcaption"}
BLOCKS |= {"table", "tbody", "tr", "td", "th"}


@dataclass
class Parsed:
    elements: list[tuple[str, tuple[tuple[str, str | None], ...]]] = field(default_factory=list)
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (tag, own text), in order
    text: str = ""
    # each character but whitespace, with the elements (tag, attributes) it is inside
    marked: list[tuple[str, tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...]]] = field(
        default_factory=list
    )


class _Strict(HTMLParser):
    """Fails on any end tag that does not close the element open last, or one left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parsed = Parsed()
        self.open: list[str] = []
        self.open_attrs: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.own: list[tuple[int, list[str]]] = [(-1, [])]  # text of each open block
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parsed.elements.append((tag, tuple(attrs)))
        if tag in VOID:
            return
        self.open.append(tag)
        self.open_attrs.append((tag, tuple(attrs)))
        if tag in BLOCKS:
            self.parsed.blocks.append((tag, ""))
            self.own.append((len(self.parsed.blocks) - 1, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/> in HTML output")

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()
        self.open_attrs.pop()
        if tag in BLOCKS:
            index, parts = self.own.pop()
            self.parsed.blocks[index] = (tag, " ".join("".join(parts).split()))

    def handle_data(self, data: str) -> None:
        self.own[-1][1].append(data)
        self.texts.append(data)
        around = tuple(self.open_attrs)
        self.parsed.marked.extend((ch, around) for ch in data if not ch.isspace())


def parse(fragment: str) -> Parsed:
    """Parse well-formed HTML strictly (every element closed, in order)."""
    parser = _Strict()
    parser.feed(fragment)
    parser.close()
    assert not parser.open, f"left open: {parser.open}"
    parser.parsed.text = "".join(parser.texts)
    return parser.parsed


def translate_with(plan: Segmented, fn: Callable[[str], str]) -> tuple[str, str]:
    return assemble_article(plan, [fn(s) for s in plan.segments])


def identity(plan: Segmented) -> tuple[str, str]:
    return translate_with(plan, lambda s: s)


# --- sentences --------------------------------------------------------------------------------


def test_persian_sentences_end_at_period_question_and_exclamation_marks() -> None:
    text = "شهردار مشهد گفت این طرح اجرا می‌شود. آیا بودجه کافی است؟ بله! کار از فردا آغاز می‌شود."
    assert split_sentences(text) == [
        "شهردار مشهد گفت این طرح اجرا می‌شود.",
        "آیا بودجه کافی است؟",
        "بله!",
        "کار از فردا آغاز می‌شود.",
    ]


def test_latin_sentences_and_ellipsis() -> None:
    assert split_sentences("It rained. Did it stop? No! Then… The end.") == [
        "It rained.",
        "Did it stop?",
        "No!",
        "Then…",
        "The end.",
    ]


def test_semicolon_is_not_a_sentence_end() -> None:
    assert split_sentences("هزینه زیاد است؛ اما ارزش دارد. پایان.") == [
        "هزینه زیاد است؛ اما ارزش دارد.",
        "پایان.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "نرخ تورم ۳.۵ درصد اعلام شد.",
        "Inflation was 3.5 percent this year.",
        "The U.S. Senate voted on it.",
        "J. K. Rowling wrote it.",
        "Dr. Smith met Mr. Jones.",
        "این بنا در سال ۱۳۰۲ ه.ش. ساخته شد.",
        "It costs approx. five dollars.",
        "۱. نخست اینکه هزینه زیاد است.",
    ],
)
def test_decimals_abbreviations_initials_and_numbering_do_not_split(text: str) -> None:
    assert split_sentences(text) == [text]


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    text = 'وی گفت: «کار تمام شد.» سپس رفت. He said "it is over." (It was.) Then left.'
    assert split_sentences(text) == [
        "وی گفت: «کار تمام شد.»",
        "سپس رفت.",
        'He said "it is over."',
        "(It was.)",
        "Then left.",
    ]


def test_a_short_quotation_of_several_sentences_is_one_segment() -> None:
    text = "وی افزود: «جلسه برگزار شد. نتیجه فردا اعلام می‌شود.» این خبر تأیید شد."
    assert split_sentences(text) == [
        "وی افزود: «جلسه برگزار شد. نتیجه فردا اعلام می‌شود.»",
        "این خبر تأیید شد.",
    ]


def test_an_overlong_sentence_is_cut_at_semicolons_then_commas() -> None:
    clause = "شورای شهر طرح توسعه حمل و نقل عمومی را بررسی کرد " * 3
    text = "؛ ".join([clause.strip()] * 6) + "."
    pieces = split_sentences(text)
    assert len(pieces) > 1
    assert all(len(p) <= MAX_SENTENCE for p in pieces)
    assert " ".join(pieces) == text
    commas = "، ".join(["بخش دیگری از این گزارش مفصل درباره شهر"] * 30) + "."
    pieces = split_sentences(commas)
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE for p in pieces)
    assert " ".join(pieces) == commas


# --- segmenting and assembling ----------------------------------------------------------------


def test_headline_first_then_sentences_of_each_block_in_order() -> None:
    plan = segment_article(
        "تیتر خبر",
        "<p>جمله اول. جمله دوم؟</p><h3>عنوان فرعی</h3><ul><li>مورد یک</li><li>مورد دو</li></ul>",
    )
    assert plan.segments == (
        "تیتر خبر",
        "جمله اول.",
        "جمله دوم؟",
        "عنوان فرعی",
        "مورد یک",
        "مورد دو",
    )


def test_zwnj_survives_segmenting_and_assembling() -> None:
    plan = segment_article("کتاب‌ها", "<p>آن‌ها می‌روند. <b>خانه‌ها</b> ساخته می‌شوند.</p>")
    assert plan.segments[1] == f"آن{ZWNJ}ها می{ZWNJ}روند."
    headline, body = identity(plan)
    assert headline == f"کتاب{ZWNJ}ها"
    assert body == f"<p>آن{ZWNJ}ها می{ZWNJ}روند. <b>خانه{ZWNJ}ها</b> ساخته می{ZWNJ}شوند.</p>"


def test_link_and_bold_come_back_around_the_translated_words_with_href_intact() -> None:
    source = (
        '<p>شهردار <a href="https://example.ir/news?id=1&amp;lang=fa" title="خبر">مشهد</a> '
        "گفت <strong>طرح</strong> اجرا شد.</p>"
    )
    plan = segment_article("تیتر", source)
    assert plan.segments[1] == "شهردار <x1>مشهد</x1> گفت <x2>طرح</x2> اجرا شد."
    assert "href" not in plan.segments[1]
    translations = {
        "تیتر": "Headline",
        plan.segments[1]: "The mayor of <x1>Mashhad</x1> said the <x2>plan</x2> was carried out.",
    }
    headline, body = translate_with(plan, translations.__getitem__)
    assert headline == "Headline"
    assert body == (
        '<p>The mayor of <a href="https://example.ir/news?id=1&amp;lang=fa" title="خبر">'
        "Mashhad</a> said the <strong>plan</strong> was carried out.</p>"
    )


def test_markers_may_swap_places_as_word_order_changes() -> None:
    plan = segment_article("h", "<p><a href='/a'>الف</a> و <em>ب</em> آمدند.</p>")
    assert plan.segments[1] == "<x1>الف</x1> و <x2>ب</x2> آمدند."
    _, body = translate_with(plan, lambda s: "<x2>B</x2> and <x1>A</x1> came." if "x1" in s else s)
    assert body == '<p><em>B</em> and <a href="/a">A</a> came.</p>'


def test_a_lost_marker_drops_that_sentences_markup_and_stays_valid_html() -> None:
    plan = segment_article(
        "h", '<p>متن <a href="https://e.ir/">پیوند</a> اول. متن <b>دوم</b> است.</p>'
    )
    translated = {
        plan.segments[1]: "Text of the <x1>link first.",  # closing marker lost
        plan.segments[2]: "Second <x1>text</x1> is.",
    }
    _, body = translate_with(plan, lambda s: translated.get(s, s))
    assert body == "<p>Text of the link first. Second <b>text</b> is.</p>"
    parsed = parse(body)
    assert [tag for tag, _ in parsed.elements] == ["p", "b"]


@pytest.mark.parametrize(
    "garbled",
    [
        "<x1>A</x1> <x1>A</x1> said.",  # duplicated
        "</x1>A<x1> said.",  # closed before opened
        "<x1>A <x2>said</x1></x2>.",  # crossed
        "<x1>A</x1> <x3>said</x3>.",  # unknown number
        "<x2>A <x1>said</x1></x2>.",  # re-nested: the link would go inside the bold text
        "<x1/>A said.",  # made empty
    ],
)
def test_garbled_markers_never_make_broken_html(garbled: str) -> None:
    plan = segment_article("h", '<p><a href="/u">الف</a> <b>گفت</b>.</p>')
    _, body = translate_with(plan, lambda s: garbled if "x1" in s else s)
    parsed = parse(body)
    assert [tag for tag, _ in parsed.elements] == ["p"]
    assert "x1" not in body and "x2" not in body
    assert "A" in parsed.text


def test_malicious_translations_come_back_as_text() -> None:
    plan = segment_article("تیتر", '<p>متن <a href="https://e.ir/">پیوند</a>.</p><p>دوم</p>')
    evil = '<script>alert(1)</script><img src=x onerror="alert(1)"> <a href="javascript:x()">y</a>'
    headline, body = translate_with(plan, lambda s: f"{s} {evil}")
    assert "<script" not in body and "<img" not in body and '<a href="javascript' not in body
    assert "&lt;script&gt;" in body
    parsed = parse(body)
    assert {t for t, _ in parsed.elements} <= {"p", "a"}
    assert all(attrs in ((), (("href", "https://e.ir/"),)) for _, attrs in parsed.elements)
    assert evil in parsed.text
    assert headline == f"تیتر {evil}"  # plain text: the feed renderer escapes it


def test_block_structure_and_attributes_are_kept() -> None:
    source = (
        '<h3 lang="fa">عنوان</h3><p>بند اول.</p><blockquote><p>نقل قول.</p></blockquote>'
        "<ol><li>یک</li><li>دو<ul><li>زیر</li></ul></li></ol>"
        "<table><tbody><tr><th>سر</th><td>خانه</td></tr></tbody></table>"
        '<figure><img src="https://cdn.example/a.jpg" alt="عکس" width="10">'
        "<figcaption>زیرنویس</figcaption></figure>"
    )
    plan = segment_article("h", source)
    _, body = translate_with(plan, lambda s: f"T({s})")
    assert body == (
        '<h3 lang="fa">T(عنوان)</h3><p>T(بند اول.)</p><blockquote><p>T(نقل قول.)</p></blockquote>'
        "<ol><li>T(یک)</li><li>T(دو)<ul><li>T(زیر)</li></ul></li></ol>"
        "<table><tbody><tr><th>T(سر)</th><td>T(خانه)</td></tr></tbody></table>"
        '<figure><img src="https://cdn.example/a.jpg" alt="عکس" width="10">'
        "<figcaption>T(زیرنویس)</figcaption></figure>"
    )


def test_identity_translation_reproduces_the_html() -> None:
    source = (
        "<h2>عنوان</h2>"
        '<p>جمله <a href="https://e.ir/?a=1&amp;b=2">اول</a> است. جمله <em>دوم</em> و '
        '<span lang="en">Mashhad</span> است؛ پایان! AT&amp;T &lt;tag&gt;</p>'
        "<p>خط یک<br>خط دو</p>"
        '<p><strong>همه این جمله پررنگ است.</strong> <img src="/i.png" alt=""> بعد از عکس.</p>'
    )
    plan = segment_article("تیتر", source)
    assert identity(plan) == ("تیتر", source)


def test_an_element_across_a_sentence_end_is_split_in_two() -> None:
    plan = segment_article("h", "<p><strong>جمله اول. جمله</strong> دوم.</p>")
    assert plan.segments[1:] == ("جمله اول.", "<x1>جمله</x1> دوم.")
    _, body = identity(plan)
    assert body == "<p><strong>جمله اول.</strong> <strong>جمله</strong> دوم.</p>"


def test_line_breaks_and_inline_images_end_a_sentence_and_stay_in_place() -> None:
    plan = segment_article("h", '<p>نشانی: مشهد<br>خیابان امام <img src="m.png"> پلاک ۱</p>')
    assert plan.segments[1:] == ("نشانی: مشهد", "خیابان امام", "پلاک ۱")
    _, body = translate_with(plan, lambda s: f"[{s}]")
    assert body == '<p>[نشانی: مشهد]<br>[خیابان امام] <img src="m.png"> [پلاک ۱]</p>'


def test_plain_segments_carry_no_markers() -> None:
    source = (
        '<p><a href="/x">کل این جمله پیوند است.</a> اما <b>فقط</b> این واژه پررنگ است.</p>'
        "<p><em>همه.</em></p>"
    )
    plan = segment_article("h", source, plain_segments=True)
    assert plan.segments[1:] == (
        "کل این جمله پیوند است.",
        "اما فقط این واژه پررنگ است.",
        "همه.",
    )
    _, body = translate_with(plan, lambda s: {"h": "h"}.get(s, "T."))
    assert body == '<p><a href="/x">T.</a> T.</p><p><em>T.</em></p>'


def test_source_text_that_looks_like_a_marker_gets_no_markers() -> None:
    plan = segment_article("h", "<p>برچسب &lt;x1&gt; در <b>متن</b> است.</p>")
    assert plan.segments[1] == "برچسب <x1> در متن است."
    _, body = identity(plan)
    assert body == "<p>برچسب &lt;x1&gt; در متن است.</p>"


def test_plain_text_bodies_become_paragraphs_on_blank_lines() -> None:
    plan = segment_article("تیتر", "بند اول. جمله دوم\nادامه.\n\nبند دوم & <سوم>")
    assert plan.segments == ("تیتر", "بند اول.", "جمله دوم ادامه.", "بند دوم & <سوم>")
    assert identity(plan)[1] == "<p>بند اول. جمله دوم ادامه.</p><p>بند دوم &amp; &lt;سوم&gt;</p>"


def test_empty_body_has_only_the_headline() -> None:
    plan = segment_article("تیتر", "")
    assert plan.segments == ("تیتر",)
    assert identity(plan) == ("تیتر", "")


def test_translation_count_must_match() -> None:
    plan = segment_article("h", "<p>یک.</p>")
    with pytest.raises(ValueError, match="1 translations for 2 segments"):
        assemble_article(plan, ["h"])


# --- headline context -------------------------------------------------------------------------


def test_lead_is_the_first_paragraph_not_a_heading() -> None:
    plan = segment_article("تیتر", "<h3>عنوان فرعی</h3><p>لید خبر. جمله دوم.</p><p>بعدی.</p>")
    assert plan.lead == "لید خبر. جمله دوم."
    assert plan.segments[0] == "تیتر"  # no context unless asked


def test_headline_with_the_lead_as_context() -> None:
    plan = segment_article("تیتر", "<p>لید خبر.</p>", lead_context=True)
    assert plan.segments[0] == "تیتر\n\n<context>لید خبر.</context>"
    assert plan.segments[1] == "لید خبر."  # still translated on its own in the body
    assert identity(plan) == ("تیتر", "<p>لید خبر.</p>")
    translated = ["Headline\n\n<context>The lead.</context>", "The lead."]
    assert assemble_article(plan, translated) == ("Headline", "<p>The lead.</p>")


@pytest.mark.parametrize(
    ("translation", "headline"),
    [
        ("Headline\n\n<context>The lead.</context>", "Headline"),
        ("Headline <context>The lead.", "Headline"),
        ("Headline\n\nThe lead.", "Headline"),  # tags lost: the first line
        ("<context>The lead.</context>\nHeadline", "Headline"),
        ("Headline", "Headline"),
    ],
)
def test_strip_context(translation: str, headline: str) -> None:
    assert strip_context(translation) == headline


def test_no_context_without_a_lead() -> None:
    assert headline_with_context("تیتر", "  ") == "تیتر"
    plan = segment_article("تیتر", "<figure><img src='a.jpg'></figure>", lead_context=True)
    assert plan.segments == ("تیتر",)


# --- the older API ----------------------------------------------------------------------------


def test_paragraph_api_still_works() -> None:
    assert article_segments("تیتر", "یک\n\n\n\nدو") == ["تیتر", "یک", "دو"]
    assert assemble(["تیتر", "یک", "<دو>"]) == ("تیتر", "<p>یک</p><p>&lt;دو&gt;</p>")


# --- properties -------------------------------------------------------------------------------

_ALPHABET = [*"ابپتسمیکه ۰۱۲۳.؟!…،؛«»()\"'&<>aZUS0 \n", ZWNJ, "\u00a0", "<x1>", "</x2>"]
_text = st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join)
_INLINE = [
    '<a href="https://e.ir/?q=1&amp;r=2">',
    "<strong>",
    "<em>",
    "<b>",
    "<i>",
    '<span lang="en">',
    "<sup>",
]


def _close(opening: str) -> str:
    return "</" + opening[1:].split(">")[0].split(" ")[0] + ">"


_inline: st.SearchStrategy[str] = st.recursive(
    st.one_of(
        _text.map(lambda t: html.escape(t, quote=False)),
        st.sampled_from(["<br>", '<img src="p.jpg" alt="ع">']),
    ),
    lambda children: st.tuples(st.sampled_from(_INLINE), st.lists(children, max_size=3)).map(
        lambda t: t[0] + "".join(t[1]) + _close(t[0])
    ),
    max_leaves=8,
)
_content = st.lists(_inline, max_size=4).map("".join)
_block = st.one_of(
    st.tuples(st.sampled_from(["p", "h2", "h3", "blockquote", "figcaption"]), _content).map(
        lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"
    ),
    st.lists(_content, min_size=1, max_size=3).map(
        lambda items: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    ),
)
_body = st.lists(_block, max_size=4).map("".join)


@settings(max_examples=200, deadline=None)
@given(_body, st.booleans())
def test_identity_translation_keeps_text_structure_and_markup(body: str, plain: bool) -> None:
    source = parse(body)
    plan = segment_article("تیتر", body, plain_segments=plain)
    headline, out = identity(plan)
    assert headline == "تیتر"
    result = parse(out)
    assert result.blocks == source.blocks
    assert set(result.elements) <= set(source.elements)
    if not plain and not re.search(r"<\s*/?\s*x", html.unescape(body)):
        assert result.marked == source.marked  # every character inside the same elements


def _garbled(segment: str) -> st.SearchStrategy[str]:
    tokens = [t for t in re.split(r"(<[^<>]*>)", segment) if t]
    return st.one_of(
        st.just(segment),
        st.permutations(tokens).flatmap(
            lambda ts: st.integers(0, len(ts)).map(lambda n: "".join(ts[:n]))
        ),
        st.lists(
            st.sampled_from([*tokens, "<x1>", "</x1>", "<x2/>", "<script>", "<b>", "&amp;", "x"]),
            max_size=8,
        ).map("".join),
        st.text(max_size=20),
    )


@settings(max_examples=200, deadline=None)
@given(_body, st.booleans(), st.data())
def test_any_translation_gives_well_formed_html_with_only_the_sources_tags(
    body: str, plain: bool, data: st.DataObject
) -> None:
    plan = segment_article("تیتر", body, plain_segments=plain)
    translations = [data.draw(_garbled(s)) for s in plan.segments]
    _, out = assemble_article(plan, translations)
    result = parse(out)
    assert set(result.elements) <= set(parse(body).elements)
    assert [tag for tag, _ in result.blocks] == [tag for tag, _ in parse(body).blocks]
