import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.persian import NORMALISER_VERSION, normalise, normalise_html, search_form

ZWNJ = "\u200c"


def test_the_version_is_a_string_the_translation_memory_can_key_on() -> None:
    assert isinstance(NORMALISER_VERSION, str) and NORMALISER_VERSION


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("شهرداري مشهد", "شهرداری مشهد"),
        ("كلانشهر", "کلانشهر"),
        ("موسى", "موسی"),  # alef maksura used as a final yeh
        ("ي\u0654", "ئ"),  # decomposed yeh + hamza stays ئ, not ی + hamza
        ("مدرسة", "مدرسة"),  # ة is a real spelling in Arabic loanwords
        ("خانهٔ", "خانهٔ"),  # the ezafe hamza is spelling, not a vowel mark
        ("خانۀ", "خانۀ"),
        ("ا\u0654", "أ"),  # NFC: one spelling for decomposed and precomposed letters
    ],
)
def test_arabic_letters_become_persian(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("۱۴۰۲", "۱۴۰۲"),
        ("٢٠٢٤", "۲۰۲۴"),
        ("سال 2024", "سال 2024"),  # Latin digits stay as written
        ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹"),
    ],
)
def test_arabic_indic_digits_become_persian(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("مـــشهد", "مشهد"),  # tatweel
        ("کِتابُ", "کتاب"),  # kasra, damma
        ("اوّل", "اول"),  # shadda
        ("مُحَمَّد", "محمد"),
        ("رحمٰن", "رحمن"),  # superscript alef
        ("کاملاً", "کاملاً"),  # adverbial tanwin after alef is Persian spelling
        ("ابتداءً", "ابتداءً"),
        ("کتابً", "کتاب"),  # a stray fathatan is not
        ("ﺷﻬﺮﺩاﺭی", "شهرداری"),  # presentation forms from a PDF
    ],
)
def test_stray_diacritics_and_tatweel_are_removed(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\ufeff",  # BOM
        "\u2060",  # word joiner
        "\u00ad",  # soft hyphen
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u061c",  # ALM
        "\u0000",
        "\u0007",
        "\u009b",
        *[chr(c) for c in range(0x202A, 0x202F)],  # embeddings and overrides
        *[chr(c) for c in range(0x2066, 0x206A)],  # isolates
    ],
)
def test_control_and_bidi_characters_are_removed(invisible: str) -> None:
    assert normalise(f"شهر{invisible}داری") == "شهرداری"
    assert normalise(f"{invisible}مشهد{invisible}") == "مشهد"


def test_bidi_controls_around_a_phrase_are_removed() -> None:
    assert normalise("\u202bشهرداری \u2066Mashhad\u2069\u202c") == "شهرداری Mashhad"


def test_lone_surrogates_do_not_crash_and_pairs_are_joined() -> None:
    assert normalise("مشهد\ud800") == "مشهد\ufffd"
    assert normalise("\udc00a") == "\ufffda"
    assert normalise("\ud83d\ude00") == "😀"
    assert search_form("\ud800") == "\ufffd"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("می‌شود", "می‌شود"),
        ("اتوبوس‌های", "اتوبوس‌های"),
        ("می‌‌‌شود", "می‌شود"),  # a run collapses to one
        ("مشهد‌ شهر", "مشهد شهر"),  # next to a space it means nothing
        ("مشهد ‌شهر", "مشهد شهر"),
        ("‌مشهد‌", "مشهد"),  # at the ends
        ("۱۲‌۳۴", "۱۲۳۴"),  # between two non-letters
        ("مشهد‌.", "مشهد."),
        ("دهه ۱۳۶۰‌ها", "دهه ۱۳۶۰‌ها"),  # a digit and a letter: kept
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ is kept
    ],
)
def test_zero_width_non_joiner_is_kept_where_it_is_spelling(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


def test_zwnj_at_the_edge_of_a_text_node_survives_when_not_stripping() -> None:
    assert normalise("می‌", strip=False) == "می‌"
    assert normalise("می‌") == "می"
    assert normalise("می‌ ", strip=False) == "می "


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("مشهد  \t\n تهران", "مشهد تهران"),
        ("مشهد\u00a0تهران", "مشهد تهران"),
        ("مشهد\u2003\u202f\u205f\u3000تهران", "مشهد تهران"),
        ("\n  مشهد  \n", "مشهد"),
    ],
)
def test_whitespace_runs_become_one_space(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


def test_strip_false_keeps_one_space_at_each_end() -> None:
    assert normalise("  مشهد \n", strip=False) == " مشهد "
    assert normalise("مشهد", strip=False) == "مشهد"
    assert normalise(" \t ", strip=False) == " "
    assert normalise(" \t ") == ""


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("مشهد ، تهران", "مشهد، تهران"),
        ("مشهد،تهران", "مشهد، تهران"),
        ("آیا آمد ؟", "آیا آمد؟"),
        ("گفت ؛ سپس", "گفت؛ سپس"),
        ("پایان .", "پایان."),
        ("گفت . . . و", "گفت... و"),
        ("( مشهد )", "(مشهد)"),
        ("« شهر جهانی »", "«شهر جهانی»"),
        ("Hello , world !", "Hello, world!"),
        ("۳،۵", "۳،۵"),  # a comma between digits is not touched
    ],
)
def test_punctuation_spacing(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        "3.5",
        "۱۴۰۲/۱۲/۱۷",
        "https://a.ir/x?a=1,2",
        "info@mashhad.ir",
        "07:21",
        "ساعت ۰۷:۲۱",
        "نسخه .NET",
        "1,000,000",
        "a.b.c",
    ],
)
def test_numbers_times_and_urls_are_left_alone(text: str) -> None:
    assert normalise(text) == text


def test_search_form_equates_spelling_variants() -> None:
    assert search_form("شهرداري") == search_form("شهرداری")
    assert search_form("كلانشهر") == search_form("کلانشهر")
    assert search_form("می‌شود") == search_form("میشود")
    assert search_form("٢٠٢٤") == search_form("۲۰۲۴") == search_form("2024") == "2024"
    assert search_form("خانهٔ") == search_form("خانۀ") == search_form("خانه")
    assert search_form("مدرسة") == search_form("مدرسه")
    assert search_form("أمور") == search_form("إمور") == search_form("امور")
    assert search_form("آب") == search_form("اب")
    assert search_form("مؤسسه") == search_form("موسسه")
    assert search_form("کاملاً") == search_form("کاملا")


def test_search_form_drops_punctuation_case_and_extra_spaces() -> None:
    assert search_form("  «مشهد»، تهران!  ") == "مشهد تهران"
    assert search_form("Mashhad, CITY") == "mashhad city"
    assert search_form("Café") == search_form("cafe")


# --------------------------------------------------------------------------- HTML


def test_normalise_html_changes_text_only() -> None:
    fragment = (
        '<p lang="fa">شهرداري  مشهد ، تهران</p>'
        '<a href="https://a.ir/x?a=1&amp;b=2" title="كلانشهر  ، ي">پيوند</a>'
        '<img alt="شهرداري  مشهد" src="https://x.ir/a.jpg">'
    )
    assert normalise_html(fragment) == (
        '<p lang="fa">شهرداری مشهد، تهران</p>'
        '<a href="https://a.ir/x?a=1&amp;b=2" title="كلانشهر  ، ي">پیوند</a>'
        '<img alt="شهرداري  مشهد" src="https://x.ir/a.jpg">'
    )


def test_normalise_html_keeps_spaces_between_inline_elements() -> None:
    assert normalise_html("<p>الف  <b>ب</b>  ج</p>") == "<p>الف <b>ب</b> ج</p>"
    assert normalise_html("<p>می‌<b>شود</b></p>") == "<p>می‌<b>شود</b></p>"


def test_normalise_html_keeps_entities_escaped() -> None:
    assert normalise_html("<p>a &lt; b &amp;&nbsp;c</p>") == "<p>a &lt; b &amp; c</p>"
    assert normalise_html("<p>&lt;script&gt;</p>") == "<p>&lt;script&gt;</p>"


# --------------------------------------------------------------------------- properties

_PERSIAN_ISH = (
    "اآأإئؤءبپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيىكةۀ"
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹0123456789"
    "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0653\u0654\u0655\u0670\u0640"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202e\u2066\u2067\u2069\ufeff\u00ad"
    " \t\n\u00a0\u2003\u202f"
    ".,:;!?،؛؟()«»/-"
    "ﺷﻬﺮﹰﻻ"
)
persianish_text = st.text(
    alphabet=st.one_of(st.sampled_from(_PERSIAN_ISH), st.characters()), max_size=40
)
any_text = st.one_of(st.text(), persianish_text)


@settings(max_examples=500, deadline=None)
@given(any_text, st.booleans())
def test_normalise_is_idempotent_and_total(text: str, strip: bool) -> None:
    once = normalise(text, strip=strip)
    assert normalise(once, strip=strip) == once
    assert "  " not in once
    if strip:
        assert once == once.strip(" ")


@settings(max_examples=500, deadline=None)
@given(any_text)
def test_search_form_is_idempotent(text: str) -> None:
    once = search_form(text)
    assert search_form(once) == once
    assert search_form(normalise(text)) == once


_TAGS = [
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<br>",
    '<a href="https://a.ir/x?a=1&amp;b=2" title="شهرداري  ،  مشهد">',
    "</a>",
    '<img alt="ك  ، ي &gt; x" src="https://x.ir/a.jpg">',
]
html_fragments = st.lists(
    st.one_of(st.sampled_from(_TAGS), any_text.map(lambda t: html.escape(t, quote=False))),
    max_size=8,
).map("".join)
_TAG = re.compile(r"<[^>]*>")


@settings(max_examples=500, deadline=None)
@given(html_fragments)
def test_normalise_html_is_idempotent_and_leaves_tags_alone(fragment: str) -> None:
    once = normalise_html(fragment)
    assert normalise_html(once) == once
    assert _TAG.findall(once) == _TAG.findall(fragment)


@settings(max_examples=1500)
@given(
    text=st.text()
    | st.text(alphabet=st.sampled_from(list("مشهد ی ي ك ،؛؟.:!()«» \u200c\u064b۱1٢\t\n")))
)
def test_the_fast_path_changes_nothing_the_full_normaliser_would_change(text: str) -> None:
    from shared.persian import _normalise

    for strip in (True, False):
        assert normalise(text, strip=strip) == _normalise(text, strip=strip)


@pytest.mark.parametrize(
    "crafted",
    ["<a" * 100_000, '<a"' * 60_000, "<!--" * 60_000, "<a '" * 50_000, "-->" + "<!--" * 60_000],
)
def test_normalise_html_reads_unclosed_tags_and_comments_as_text_in_one_pass(
    crafted: str,
) -> None:
    """Each "<" used to rescan the rest of the fragment for its ">" (issue 18): minutes."""
    assert normalise_html(crafted) == html.escape(crafted, quote=False)


def test_normalise_html_leaves_comments_and_quoted_brackets_alone() -> None:
    fragment = '<!-- a > ك --><p title="a > ك">ك</p><!--x-->'
    assert normalise_html(fragment) == '<!-- a > ك --><p title="a > ك">ک</p><!--x-->'
