from datetime import UTC, datetime
from pathlib import Path

import pytest
import trafilatura
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.crafted_page import (
    CRAFTED_HEADLINE,
    crafted_html_page,
    crafted_paragraphs,
    crafted_text_page,
)
from services.ingest import extract
from services.ingest.extract import Block, ExtractionError, Page, from_html, from_text
from services.ingest.text import fingerprint_form

SAMPLES = Path(__file__).parents[2] / "fixtures" / "samples"
GORGAN = "gorgan-guangzhou-room.txt"
JAHANSHAHR = "mashhad-jahanshahr-portal-launch.txt"
METROPOLIS = "mashhad-metropolis-secretary-general.txt"
TEHRAN = "tehran-transport-synthetic.html"


def raw(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def line(name: str, number: int) -> str:
    """Line `number` (1-based, as an editor sees it) of a sample, spaces (NBSP too) collapsed."""
    return " ".join(raw(name).splitlines()[number - 1].split())


def page(name: str) -> Page:
    return from_html(raw(name)) if name.endswith(".html") else from_text(raw(name))


def body_text(p: Page) -> str:
    return "\n".join(b.text for b in p.blocks)


def assert_each_paragraph_once(p: Page) -> None:
    forms = [fingerprint_form(b.text) for b in p.blocks]
    assert len(forms) == len(set(forms))
    assert fingerprint_form(p.headline) not in forms


# Headline, news code, time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "headline", "news_code", "date_text", "published"),
    [
        (
            JAHANSHAHR,
            "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد",
            "1314415",
            None,
            None,
        ),
        (
            METROPOLIS,
            "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین المللی است",
            "2212303",
            "۱۴۰۴/۰۲/۰۹ ۰۷:۲۱:۵۳",
            datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC),
        ),
        (
            GORGAN,
            "توسعه همکاری های متقابل؛ اتاق گوانگژو در شهرداری گرگان راه اندازی می شود",
            None,
            None,
            None,
        ),
        (
            TEHRAN,
            "اجرای طرح جدید حمل و نقل عمومی در تهران",
            "2212303",
            "۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱",
            datetime(2024, 3, 7, 11, 1, tzinfo=UTC),
        ),
    ],
)
def test_sample_header(
    name: str,
    headline: str,
    news_code: str | None,
    date_text: str | None,
    published: datetime | None,
) -> None:
    p = page(name)
    assert p.headline == headline
    assert p.news_code == news_code
    assert p.date_text == date_text
    assert p.published == published


# Body: lead first, last paragraph kept, no boilerplate --------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "last", "boilerplate"),
    [
        (
            JAHANSHAHR,
            line(JAHANSHAHR, 10),
            line(JAHANSHAHR, 28),
            [
                "خبرگزاری کار ایران",
                "با حضور مسئولان ایرانی و بین المللی؛",
                "کد خبر",
                "۱۳۱۴۴۱۵",
                "انتهای پیام/",
                "ارسال نظر",
            ],
        ),
        (
            METROPOLIS,
            line(METROPOLIS, 9),
            line(METROPOLIS, 43),
            [
                "کد خبر",
                "۱۴۰۴/۰۲/۰۹",
                "۰۷:۲۱:۵۳",
                "نظر شما",
                "جوان سال",
                "پیشنهاد سردبیر",
                "پرونده ویژه",
                "پایگاه اطلاع رسانی شهرداری مشهد",
                "بانک سپه",
                "رایتل",
                "بلیط هواپیما",
                "دندونت",
                "آژانس عکس برنا",
                "تشریفات شایسته",
            ],
        ),
        (
            GORGAN,
            line(GORGAN, 13),
            line(GORGAN, 55),
            [
                "شهرداری گرگان ، شهر پاکیزه",
                "انتهای پیام",
                "منبع محتوا",
                "@24bc40e3",
                "محتوای مشابه",
                "نظرات شما",
                "Services List",
                "Hi I am test a service to show",
            ],
        ),
        (
            TEHRAN,
            "شهردار تهران از اجرای طرح جدید حمل و نقل عمومی از ابتدای سال آینده خبر داد.",
            "بر اساس این گزارش، اعتبار لازم برای اجرای این طرح در بودجه سال ۱۴۰۳"
            " پیش\u200cبینی شده است.",
            [
                "صفحه اصلی",
                "درباره ما",
                "تماس با ما",
                "آگهی مناقصه شماره ۱۲",
                "آگهی مزایده عمومی",
                "۱۷ اسفند ۱۴۰۲",
                "کد خبر",
                "اخبار مرتبط",
                "افتتاح ایستگاه جدید مترو در منطقه ۵",
                "برگزاری جلسه شورای شهر درباره بودجه",
                "آغاز عملیات لکه\u200cگیری معابر",
                "ارسال نظر",
                "نظر شما",
                "ایمیل",
                "نظرات پس از تایید منتشر می\u200cشود",
                "تمامی حقوق این سایت متعلق به شهرداری تهران است",
            ],
        ),
    ],
)
def test_sample_body(name: str, first: str, last: str, boilerplate: list[str]) -> None:
    p = page(name)
    assert p.blocks[0] == Block("p", first)
    assert p.blocks[-1] == Block("p", last)
    text = body_text(p)
    for junk in boilerplate:
        assert junk not in text, junk
    assert_each_paragraph_once(p)


def test_body_paragraph_counts() -> None:
    assert len(page(JAHANSHAHR).blocks) == 10
    assert len(page(METROPOLIS).blocks) == 18
    assert len(page(GORGAN).blocks) == 12
    assert len(page(TEHRAN).blocks) == 4


def test_repeated_headline_lines_are_not_body() -> None:
    for name in (JAHANSHAHR, METROPOLIS, GORGAN, TEHRAN):
        p = page(name)
        assert p.headline not in body_text(p)


def test_gorgan_lead_appears_once_in_its_full_version() -> None:
    p = page(GORGAN)
    leads = [b for b in p.blocks if b.text.startswith("به گزارش مرکز اطلاع رسانی")]
    assert leads == [Block("p", line(GORGAN, 13))]
    assert leads[0].text.endswith("اتاق گوانگژو در شهرداری گرگان خبر داد.")
    assert "گوانگجو" not in leads[0].text  # the truncated copies' spelling
    assert p.blocks[0] is leads[0]


def test_gorgan_sub_heading_is_an_h3() -> None:
    p = page(GORGAN)
    assert [b for b in p.blocks if b.tag == "h3"] == [
        Block("h3", "تاکید استاندار بر توسعه همکاری گرگان - گوانگژو")
    ]
    at = p.blocks.index(Block("h3", "تاکید استاندار بر توسعه همکاری گرگان - گوانگژو"))
    assert p.blocks[at + 1].text.startswith("شهردار گرگان تصریح کرد")


def test_other_samples_have_no_sub_headings() -> None:
    for name in (JAHANSHAHR, METROPOLIS, TEHRAN):
        assert all(b.tag == "p" for b in page(name).blocks)


def test_text_is_as_printed_only_spaces_collapsed() -> None:
    p = from_text("تیتر   خبر\n\n  متن    خبر با ي و ك عربی است.  \n")
    assert p.headline == "تیتر خبر"
    assert p.blocks == [Block("p", "متن خبر با ي و ك عربی است.")]


# HTML ---------------------------------------------------------------------------------------


def test_zero_width_non_joiner_survives_html_extraction() -> None:
    text = body_text(page(TEHRAN))
    assert "می\u200cشود" in text
    assert "اتوبوس\u200cهای" in text
    assert "می\u200cتوانند" in text


def test_html_falls_back_to_text_rules_when_trafilatura_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = page(TEHRAN)
    calls: list[str] = []

    def finds_nothing(*args: object, **kwargs: object) -> None:
        calls.append("extract")

    monkeypatch.setattr(trafilatura, "extract", finds_nothing)
    assert from_html(raw(TEHRAN)) == expected
    assert calls == ["extract"]


def test_html_headline_from_title_without_the_site_name() -> None:
    html = (
        "<html><head><title>آغاز طرح تازه در گرگان - پایگاه خبری شهرداری</title>"
        '<meta property="article:published_time" content="2024-03-07T14:31:00+03:30"></head>'
        "<body><p>شهردار گرگان از آغاز طرح تازه‌ای خبر داد که از فردا اجرا می‌شود.</p>"
        "</body></html>"
    )
    p = from_html(html)
    assert p.headline == "آغاز طرح تازه در گرگان"
    assert p.published == datetime(2024, 3, 7, 11, 1, tzinfo=UTC)
    assert p.blocks == [
        Block("p", "شهردار گرگان از آغاز طرح تازه‌ای خبر داد که از فردا اجرا می‌شود.")
    ]


def test_html_with_an_encoding_declaration_is_read() -> None:
    html = "<?xml version='1.0' encoding='utf-8'?>" + raw(TEHRAN)
    assert from_html(html).headline == "اجرای طرح جدید حمل و نقل عمومی در تهران"


def test_html_entities_are_not_fetched() -> None:
    html = (
        '<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]><html><body>'
        "<h1>تیتر خبر</h1><p>متن خبر &x; است که به اندازه کافی طولانی نوشته شده است.</p>"
        "</body></html>"
    )
    p = from_html(html)
    assert "root:" not in body_text(p)


# Dates on pages -------------------------------------------------------------------------------


def test_an_unreadable_date_is_kept_as_printed_but_not_parsed() -> None:
    p = from_text("تیتر خبر\n۳۲ اسفند ۱۴۰۲ - ۱۴:۳۱\nمتن خبر است.")
    assert p.date_text == "۳۲ اسفند ۱۴۰۲ - ۱۴:۳۱"
    assert p.published is None
    assert p.blocks == [Block("p", "متن خبر است.")]


def test_a_date_in_the_body_is_not_the_publication_date() -> None:
    p = from_text("تیتر خبر\nمتن خبر که در ۱۷ اسفند ۱۴۰۲ نوشته شده است.")
    assert p.date_text is None
    assert p.published is None


def test_the_date_after_the_headline_wins_over_todays_date_in_the_site_header() -> None:
    p = from_text("امروز ۲۰ اسفند ۱۴۰۲\nتیتر خبر\n۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱\nمتن خبر است.")
    assert p.published == datetime(2024, 3, 7, 11, 1, tzinfo=UTC)


def test_news_code_spellings() -> None:
    assert from_text("تیتر خبر\nکدخبر: ٤٥٦\nمتن خبر است.").news_code == "456"
    assert from_text("تیتر خبر\n| کد خبر: ۲۲۱۲۳۰۳\nمتن خبر است.").news_code == "2212303"


# Errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no headline found in the page"),
        ("جمله‌ای که با نقطه تمام می‌شود.", "no headline found in the page"),
        ("تیتر خبر\n\nانتهای پیام", "no article body found in the page"),
        ("Latin headline\nOnly a menu\nand more", "no article body found in the page"),
    ],
)
def test_extraction_errors(text: str, message: str) -> None:
    with pytest.raises(ExtractionError, match=message):
        from_text(text)


@pytest.mark.parametrize("html", ["", "   ", "<html><body></body></html>"])
def test_html_extraction_errors(html: str) -> None:
    with pytest.raises(ExtractionError):
        from_html(html)


# Properties -----------------------------------------------------------------------------------

SAMPLE_LINES = sorted(
    {ln for name in (JAHANSHAHR, METROPOLIS, GORGAN) for ln in raw(name).splitlines()}
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_value_errors(text: str) -> None:
    try:
        p = from_text(text)
    except ValueError:
        return
    assert p.headline and p.blocks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SAMPLE_LINES) | st.text(max_size=30), max_size=40))
def test_shuffled_page_lines_only_raise_value_errors(lines: list[str]) -> None:
    try:
        p = from_text("\n".join(lines))
    except ValueError:
        return
    assert all(b.text for b in p.blocks)
    assert p.published is None or p.published.tzinfo is UTC


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_html_only_raises_value_errors(text: str) -> None:
    try:
        from_html(f"<html><body><h1>تیتر</h1>{text}</body></html>")
    except ValueError:
        pass


# Crafted pages: the work per page is bounded -------------------------------------------------


def test_paragraphs_sharing_their_start_are_compared_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The review's page (issue 18): 400 paragraphs alike at the start, none a duplicate. Each
    is compared with a bounded number of others, not with every other one (80,000 pairs)."""
    calls: list[int] = []
    compare = extract._same_paragraph

    def counted(a: str, b: str) -> bool:
        calls.append(1)
        return compare(a, b)

    monkeypatch.setattr(extract, "_same_paragraph", counted)
    p = from_text(crafted_text_page(400))
    assert p.headline == CRAFTED_HEADLINE
    assert [b.text for b in p.blocks] == crafted_paragraphs(400)
    assert len(calls) <= 400 * 8


def test_a_truncated_copy_is_still_found_among_many_paragraphs_alike() -> None:
    paras = crafted_paragraphs(30)
    lead = paras[0]
    truncated = lead[: len(lead) * 2 // 3].replace("گفت", "گفتت", 1)  # cut, one letter wrong
    p = from_text("\n".join([CRAFTED_HEADLINE, truncated, *paras]))
    assert [b.text for b in p.blocks] == paras


def test_a_crafted_html_page_keeps_each_paragraph_once() -> None:
    p = from_html(crafted_html_page(400))
    assert [b.text for b in p.blocks] == crafted_paragraphs(400)


def test_a_page_larger_than_extraction_reads_is_refused_with_the_reason() -> None:
    with pytest.raises(ExtractionError, match="characters; extraction reads at most"):
        from_text("تیتر خبر\n" + "متن خبر است. " * (extract.MAX_PAGE_CHARS // 10))
    with pytest.raises(ExtractionError, match="characters; extraction reads at most"):
        from_html("<h1>تیتر</h1><p>" + "متن خبر است. " * (extract.MAX_PAGE_CHARS // 10))


def test_a_page_with_more_lines_than_any_article_is_refused_with_the_reason() -> None:
    lines = [f"بند شماره {i} از متن خبر است." for i in range(extract.MAX_BLOCKS + 1)]
    with pytest.raises(ExtractionError, match="blocks of text; an article has at most"):
        from_text("\n".join(["تیتر خبر", *lines]))


def test_many_headlines_and_a_long_title_are_read_once() -> None:
    """Each <h1> was compared with the whole <title> in its comparison form, made again for
    every <h1>: many of them and a long title multiplied into minutes."""
    title = "تیتر " * 40_000
    h1s = "".join(f"<h1>عنوان {i}</h1>" for i in range(2_000))
    page_html = (
        f"<html><head><title>{title}</title></head><body>{h1s}<p>متن خبر است.</p></body></html>"
    )
    p = from_html(page_html)
    assert p.headline == "عنوان 0"
