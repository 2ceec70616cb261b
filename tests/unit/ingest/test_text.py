import pytest

from services.ingest import text


def test_paragraphs_split_on_blank_lines_or_single_lines() -> None:
    assert text.paragraphs("یک\n\nدو  سه\n") == ["یک", "دو سه"]
    assert text.paragraphs("یک\nدو") == ["یک", "دو"]
    assert text.paragraphs("  ") == []


def test_sanitiser_removes_everything_active() -> None:
    dirty = (
        '<p onclick="steal()">متن <a href="javascript:x()">پیوند</a></p>'
        '<script>alert(1)</script><iframe src="https://evil.example"></iframe>'
        '<img src="https://cdn.example/a.jpg" onerror="x()">'
    )
    clean = text.sanitise_html(dirty)
    for bad in ("onclick", "javascript:", "<script", "<iframe", "onerror", "alert"):
        assert bad not in clean
    assert "متن" in clean and 'src="https://cdn.example/a.jpg"' in clean


def test_zero_width_non_joiner_survives_sanitising() -> None:
    assert "می\u200cشود" in text.sanitise_html("<p>می\u200cشود</p>")


def test_html_to_text_keeps_paragraphs() -> None:
    assert text.html_to_text("<p>یک &amp; دو</p><p>سه</p>") == "یک & دو\n\nسه"


def test_article_id_comes_from_the_news_code_when_there_is_one() -> None:
    a = text.article_id("mashhad", "1314415", "تیتر", "متن")
    assert a == text.article_id("mashhad", "1314415", "تیتر اصلاح شده", "متن دیگر")
    assert a != text.article_id("tehran", "1314415", "تیتر", "متن")
    assert a.startswith("mashhad-")


def test_article_id_without_a_news_code_follows_the_content() -> None:
    a = text.article_id("mashhad", None, "تیتر", "متن")
    assert a == text.article_id("mashhad", None, " تیتر ", "متن")
    assert a != text.article_id("mashhad", None, "تیتر", "متن دیگر")


def test_content_hash_is_order_independent() -> None:
    assert text.content_hash({"a": 1, "b": [2]}) == text.content_hash({"b": [2], "a": 1})


TRICKS = {
    "svg script": "<svg><script>alert(1)</script></svg>",
    "object": '<object data="https://evil.example/x.swf"></object>',
    "embed": '<embed src="https://evil.example/x.swf">',
    "style import": "<style>@import url(https://evil.example/x.css);</style>",
    "style attribute": '<p style="background:url(https://evil.example/t.gif)">x</p>',
    "link": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "base": '<base href="https://evil.example/">',
    "form": '<form action="https://evil.example"><input name="q"></form>',
    "data image": '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    "srcset": '<img src="https://cdn.example/a.jpg" srcset="https://evil.example/t.gif 2x">',
    "vbscript link": '<a href="vbscript:msgbox(1)">x</a>',
    "entity javascript": '<a href="&#106;avascript:alert(1)">x</a>',
    "frameset": '<frameset><frame src="https://evil.example"></frameset>',
    "background attribute": '<table background="https://evil.example/t.gif"><tr><td>x</td></tr></table>',
}


@pytest.mark.parametrize("trick", TRICKS.values(), ids=TRICKS.keys())
def test_no_active_or_remote_loading_markup_survives(trick: str) -> None:
    clean = text.sanitise_html(f"<p>متن</p>{trick}")
    for bad in ("evil.example", "script", "javascript", "vbscript", "data:", "style", "<form"):
        assert bad not in clean.lower(), clean


@pytest.mark.parametrize(
    ("headline", "language"),
    [
        ("دیدار شهردار مشهد با هیئت Guangzhou", "fa"),  # a name in Latin letters is fine
        ("افتتاح بوستان جدید در مشهد", "fa"),
        ("COVID-19 в Казани", "ru"),
        ("Mashhad hosts Kazan", "en"),
        ("۱۴۰۳", "fa"),  # no letters: nothing to judge
        ("Mashhad hosts Kazan", "am"),  # a language the table does not know: not judged
        ("Cambrios被Gartner評選為「最酷供應商」", "zh"),  # Business Wire: brands in Latin letters
        ("广州市长会见马什哈德代表团", "zh-Hans"),
        ("马什哈德与Guangzhou签署友好城市协议", "zh"),
        ("東京で世界都市フォーラムが開かれた", "ja"),  # Han and Kana: both Japanese
        ("서울시장, Mashhad 대표단 접견", "ko"),
        ("Мэр Казани встретился с делегацией Mashhad", "ru"),
        ("رئيس بلدية مشهد يستقبل وفد Kazan", "ar"),
        ("Ο δήμαρχος της Αθήνας στο Mashhad", "el"),
        ("מש'הד ותל אביב חותמות על הסכם", "he"),
        ("मशहद के महापौर दिल्ली पहुँचे", "hi"),
        ("Mashhad mayor meets 马什哈德 delegation", "en"),
    ],
)
def test_headlines_in_their_language_s_script_pass(headline: str, language: str) -> None:
    assert text.wrong_script(headline, language) is None


@pytest.mark.parametrize(
    ("headline", "language", "said"),
    [
        ("Mashhad hosts a delegation from Kazan", "fa", "Latin letters, not in the Arabic"),
        ("شهردار مشهد", "ru", "Arabic letters, not in the Cyrillic"),
        ("Мэр Казани посетил Мешхед", "en-GB", "Cyrillic letters, not in the Latin"),
        ("Mashhad hosts a delegation from Guangzhou", "zh", "Latin letters, not in the Han"),
        ("广州市长会见马什哈德代表团", "en", "Han characters, not in the Latin"),
        ("广州市长会见马什哈德代表团", "fa", "Han characters, not in the Arabic"),
        ("شهردار مشهد از گوانگژو دیدار کرد", "zh", "Arabic letters, not in the Han"),
        ("Mashhad hosts Kazan", "ja", "Latin letters, not in the Han/Kana"),
        ("서울시장 마슈하드 방문", "zh", "Hangul characters, not in the Han"),
        ("رئيس بلدية مشهد يستقبل وفدا", "ru", "Arabic letters, not in the Cyrillic"),
    ],
)
def test_a_headline_in_another_script_is_refused_with_a_reason(
    headline: str, language: str, said: str
) -> None:
    reason = text.wrong_script(headline, language)
    assert reason is not None and said in reason and language in reason


def test_an_ideograph_weighs_about_a_word_of_letters() -> None:
    """Counted one to one, 15 Latin letters of brand names outnumber 9 ideographs; weighed, the
    Chinese carries the headline, and the script names are those of shared/languages.py."""
    weights = text.script_weights("Cambrios被Gartner評選為「最酷供應商」")
    assert weights == {"Latin": 15.0, "Han": 9 * text.WEIGHTS["Han"]}
    assert {text.script_of(c) for c in "ぁアｱ한Ж"} == {"Kana", "Hangul", "Cyrillic"}
    assert text.script_of("ａ") == "Latin"  # full-width Latin, as Chinese and Japanese text uses it
    assert text.script_of("ሀ") == "Ethiopic"  # a script the table lacks keeps its Unicode name


def test_the_dominant_foreign_script_is_named_not_the_expected_one() -> None:
    """Arabic is the largest script (10 of 24 letters) yet under half: the reason names the
    largest of the others."""
    assert text.script_weights("شهردار مشهد Kazan Ufa Москва") == {
        "Arabic": 10.0, "Latin": 8.0, "Cyrillic": 6.0
    }  # fmt: skip
    reason = text.wrong_script("شهردار مشهد Kazan Ufa Москва", "fa")
    assert reason is not None and "Latin letters, not in the Arabic script of 'fa'" in reason


def test_html_to_text_reads_unclosed_tags_as_text_in_one_pass() -> None:
    """Every "<" used to rescan the rest of the text for a ">" (issue 18): minutes of CPU."""
    crafted = "<a" * 400_000
    assert text.html_to_text(crafted) == crafted
    assert text.html_to_text("<p>a < b</p><p>c</p>") == "a < b\n\nc"
