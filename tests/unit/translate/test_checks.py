"""Automatic checks on machine translations, on real Persian city news.

The sentences are from the sample pages (tests/fixtures/samples/) and lines of the same kind;
the good translations were written for these tests, the broken ones are the failures a model
really produces (a dropped or altered figure, a Jalali month read as a Gregorian one, a sentence
left in Persian, a loop, an empty segment, lost links). A false alarm matters as much as a miss:
every good translation here must pass every check.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.translate import checks
from services.translate.checks import (
    CHECKS_VERSION,
    SegmentPair,
    length_bounds,
    run_checks,
)
from services.translate.numbers import missing_figures, readings, source_figures
from shared.contracts import CheckFailure
from shared.glossary import Term

PILGRIMS = (
    "محمدرضا قلندر افزود: مشهد سالانه پذیرای ۳۰ میلیون زائر ایرانی و بیش از چهار میلیون زائر "
    "خارجی و میزبان بیش از یک میلیون اتباع خارجی است."
)
POPULATION = (
    "شهردار مشهد نیز در این دیدار اظهار کرد: مشهد بعد از تهران ، بزرگترین کلانشهر ایران محسوب "
    "میشود که با سه میلیون و ۶۰۰ هزار نفر جمعیت در شمال شرق ایران و در منطقهای استراتژیک واقع "
    "شده است."
)
METROPOLIS = (
    "دبیرکل متروپلیس افزود: متروپلیس به عنوان سازمانی که بیش از ۱۶۰ شهر بزرگ را گرد هم آورده، "
    "تلاش میکند ارتباطی بین مدیریت شهری و تفکرات آن ایجاد کند."
)
GAZA = "شهردار مشهد اضافه کرد: تا کنون حدود ۲۰ هزار کودک غزهای به شهادت رسیده اند."
BUSES = (
    "وی افزود: در مرحله نخست، ۲۰۰ دستگاه اتوبوس برقی جدید وارد ناوگان حمل و نقل عمومی شهر خواهد "
    "شد و شهروندان می‌توانند از خدمات آن استفاده کنند."
)
BUDGET_YEAR = "بر اساس این گزارش، اعتبار لازم برای اجرای این طرح در بودجه سال ۱۴۰۳ پیش‌بینی شده است."
PORTAL = "پایگاه اینترنتی ۴ زبانه جهانشهر در مشهد رونمایی شد"
GUANGZHOU = (
    "دادبود با اعلام این خبر گفت: یکی از موضوعات مورد توافق با سرکنسولگری گوانگژو، راه اندازی "
    "اتاق گوانگژو در شهرداری گرگان بوده که به زودی افتتاح می شود."
)


def fails(
    pairs: list[SegmentPair],
    target: str = "en",
    *,
    terms: Sequence[Term] = (),
    source_html: str | None = None,
    target_html: str | None = None,
) -> list[CheckFailure]:
    return run_checks(pairs, "fa", target, terms, source_html=source_html, target_html=target_html)


def only(failures: list[CheckFailure], check: str) -> CheckFailure:
    """The single failure, which must be of ``check``."""
    assert [f.check for f in failures] == [check], failures
    return failures[0]


# ------------------------------------------------------------------------------ good translations

GOOD: list[tuple[str, str, str]] = [
    (
        PILGRIMS,
        "en",
        "Mohammadreza Ghalandar added: every year Mashhad welcomes 30 million Iranian pilgrims and "
        "more than four million foreign pilgrims, and hosts over a million foreign nationals.",
    ),
    (
        PILGRIMS,
        "ar",
        "وأضاف محمد رضا قلندر: تستقبل مشهد سنويا ٣٠ مليون زائر إيراني وأكثر من أربعة ملايين زائر "
        "أجنبي، وتستضيف أكثر من مليون مواطن أجنبي.",
    ),
    (
        PILGRIMS,
        "ru",
        "Мохаммадреза Галандар добавил: Мешхед ежегодно принимает 30 млн иранских паломников, "
        "более четырёх миллионов иностранных паломников и более миллиона иностранцев.",
    ),
    (
        POPULATION,
        "en",
        "The mayor of Mashhad also said at the meeting that Mashhad, with a population of 3.6 "
        "million, is Iran's largest metropolis after Tehran and lies in a strategic region in "
        "the north-east of the country.",
    ),
    (
        POPULATION,
        "ru",
        "Мэр Мешхеда также заявил на встрече, что Мешхед с населением 3 млн 600 тыс. человек — "
        "крупнейший мегаполис Ирана после Тегерана, расположенный в стратегическом регионе на "
        "северо-востоке страны.",
    ),
    (
        POPULATION,
        "ar",
        "وقال رئيس بلدية مشهد أيضا في هذا اللقاء إن مشهد تعد أكبر مدينة كبرى في إيران بعد طهران، "
        "ويبلغ عدد سكانها ٣٬٦٠٠٬٠٠٠ نسمة، وتقع في منطقة استراتيجية في شمال شرق إيران.",
    ),
    (
        METROPOLIS,
        "en",
        "The Secretary General of Metropolis added that Metropolis, an organisation bringing "
        "together more than 160 major cities, seeks to connect urban management with its ideas.",
    ),
    (
        GAZA,
        "en",
        "The mayor of Mashhad added that about 20,000 children in Gaza have been killed so far.",
    ),
    (
        GAZA,
        "ru",
        "Мэр Мешхеда добавил, что к настоящему времени погибли около 20 тыс. детей в Газе.",
    ),
    (
        BUSES,
        "en",
        "He added that in the first phase 200 new electric buses will join the city's public "
        "transport fleet for citizens to use.",
    ),
    (
        BUDGET_YEAR,
        "en",
        "According to the report, the funds needed for the plan are set aside in the 2024 budget.",
    ),
    (
        BUDGET_YEAR,
        "ar",
        "ووفقا للتقرير، تم توفير الاعتمادات اللازمة لتنفيذ هذه الخطة في ميزانية عام ١٤٠٣.",
    ),
    (PORTAL, "en", "Jahanshahr's four-language website unveiled in Mashhad"),
    (PORTAL, "ru", "В Мешхеде представлен 4-язычный портал «Джаханшахр»"),
    (
        GUANGZHOU,
        "en",
        "Announcing the news, Dadbood said that setting up a Guangzhou room at Gorgan "
        "Municipality, which will open soon, was one of the points agreed with the Guangzhou "
        "consulate general.",
    ),
    (
        "شهروندان می‌توانند شکایات خود را با شماره ۱۳۷ ثبت کنند.",
        "en",
        "Citizens can file their complaints by calling 137.",
    ),
    (
        "نرخ استفاده از حمل و نقل عمومی در تهران ۳٫۵ درصد افزایش یافت.",
        "ru",
        "Доля пользования общественным транспортом в Тегеране выросла на 3,5 %.",
    ),
    (
        "نرخ استفاده از حمل و نقل عمومی در تهران ۳٫۵ درصد افزایش یافت.",
        "ar",
        "ارتفع معدل استخدام النقل العام في طهران بنسبة ٣٫٥٪.",
    ),
    (
        "شورای شهر بودجه ۱۲٬۵۰۰ میلیارد ریالی شهرداری را تصویب کرد.",
        "en",
        "The city council approved the municipality's budget of 12.5 trillion rials.",
    ),
    (
        "شورای شهر بودجه ۱۲٬۵۰۰ میلیارد ریالی شهرداری را تصویب کرد.",
        "ru",
        "Городской совет утвердил бюджет муниципалитета в размере 12 500 млрд риалов.",
    ),
    (
        "خط ۲ قطار شهری مشهد با ۲۳ ایستگاه از هفته آینده تا ساعت ۲۳:۳۰ فعال است.",
        "en",
        "Mashhad metro Line 2, with 23 stations, will run until 11:30 pm from next week.",
    ),
    (
        "اجرای طرح جدید حمل و نقل عمومی در تهران ۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱",
        "en",
        "New public transport plan launched in Tehran, 7 March 2024, 14:31",
    ),
    (
        "اجرای طرح جدید حمل و نقل عمومی در تهران ۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱",
        "ru",
        "В Тегеране запущен новый план общественного транспорта, 17 эсфанда 1402 г., 14:31",
    ),
    (
        "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین المللی است ۱۴۰۴/۰۲/۰۹",
        "en",
        "Metropolis Secretary General: Mashhad is becoming an international player (29 April 2025)",
    ),
    (
        "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین المللی است ۱۴۰۴/۰۲/۰۹",
        "ar",
        "الأمين العام لمتروبوليس: مشهد في طريقها لتصبح لاعبا دوليا ٢٠٢٥/٠٤/٢٩",
    ),
    (
        "مدیر مرکز اطلاعرسانی شهرداری مشهد گفت: به مناسبت روز دهم دی ماه از پایگاه رونمایی شد.",
        "en",
        "The head of Mashhad Municipality's information centre said the website was unveiled to "
        "mark the tenth of Dey.",
    ),
    (
        "بیمارستان جدید شهر با ظرفیت دویست تخت افتتاح می‌شود.",
        "en",
        "The city's new hospital, with two hundred beds, is to open.",
    ),
]


@pytest.mark.parametrize(("source", "target_lang", "target"), GOOD)
def test_a_good_translation_passes_every_check(source: str, target_lang: str, target: str) -> None:
    assert fails([SegmentPair(source, target)], target_lang) == []


def test_a_whole_article_translated_well_raises_nothing() -> None:
    article = [(s, t) for s, lang, t in GOOD if lang == "en"]
    pairs = [SegmentPair(s, t) for s, t in article]
    terms = [Term(source="مشهد", target="Mashhad"), Term(source="متروپلیس", target="Metropolis")]
    html = '<p>وی گفت: <a href="https://news.mashhad.ir">جهانشهر</a> <b>۴ زبانه</b> است.</p>'
    translated = (
        '<p>He said <a href="https://news.mashhad.ir">Jahanshahr</a> is '
        "<strong>in 4 languages</strong>.</p>"
    )
    assert fails(pairs, "en", terms=terms, source_html=html, target_html=translated) == []


# ------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("source", "target", "evidence"),
    [
        (PILGRIMS, GOOD[0][2].replace("30 million", "3 million"), ["۳۰ میلیون"]),
        (PILGRIMS, GOOD[0][2].replace("more than four million", "many"), ["چهار میلیون"]),
        (POPULATION, GOOD[3][2].replace("3.6 million", "3 million"), ["سه میلیون و ۶۰۰ هزار"]),
        (METROPOLIS, GOOD[6][2].replace("160", "16"), ["۱۶۰"]),
        (GAZA, GOOD[7][2].replace("20,000", "2,000"), ["۲۰ هزار"]),
        (BUSES, GOOD[9][2].replace("200 new", "new"), ["۲۰۰"]),
        (BUDGET_YEAR, GOOD[10][2].replace("2024", "2023"), ["۱۴۰۳"]),
        (
            "اجرای طرح جدید حمل و نقل عمومی در تهران ۱۷ اسفند ۱۴۰۲",
            "New public transport plan launched in Tehran, 17 March 2024",
            ["۱۷ اسفند ۱۴۰۲"],
        ),
        (
            "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین المللی است ۱۴۰۴/۰۲/۰۹",
            "Metropolis Secretary General: Mashhad is becoming an international player "
            "(9 February 2025)",
            ["۱۴۰۴/۰۲/۰۹"],
        ),
    ],
)
def test_a_dropped_or_altered_figure_is_caught_with_the_source_figure(
    source: str, target: str, evidence: list[str]
) -> None:
    failure = only(fails([SegmentPair(source, target)]), "numbers")
    assert failure.evidence == evidence
    assert failure.segment == 0 and failure.source == source and failure.target == target
    assert evidence[0] in failure.reason and evidence[0] in source  # highlightable as written


def test_issue_example_thirty_million_pilgrims_is_not_three_million() -> None:
    assert missing_figures("۳۰ میلیون زائر", "3 million pilgrims", "fa") == ["۳۰ میلیون"]
    for good in ("30 million pilgrims", "30,000,000 pilgrims", "thirty million pilgrims"):
        assert missing_figures("۳۰ میلیون زائر", good, "fa") == [], good
    assert missing_figures("۳۰ میلیون زائر", "30 млн паломников", "fa") == []
    assert missing_figures("۳۰ میلیون زائر", "30 миллионов паломников", "fa") == []
    assert missing_figures("۳۰ میلیون زائر", "٣٠ مليون زائر", "fa") == []
    assert missing_figures("۳۰ میلیون زائر", "3 млн паломников", "fa") == ["۳۰ میلیون"]
    assert missing_figures("۳۰ میلیون زائر", "٣ ملايين زائر", "fa") == ["۳۰ میلیون"]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("۱۲٬۵۰۰", "12500"),
        ("12,500", "12500"),
        ("3٫5", "3.5"),
        ("۲/۵", "2.5"),
        ("1.234,5", "1234.5"),
    ],
)
def test_separators_are_read_as_people_write_them(written: str, value: str) -> None:
    latin = written.translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    assert any(str(r[0]) == value or f"{r[0]:f}" == value for r in readings(latin))


def test_a_jalali_date_kept_or_converted_both_pass_and_a_wrong_day_fails() -> None:
    source = "مراسم در ۱۵ مهر ۱۴۰۳ برگزار شد."
    assert missing_figures(source, "The ceremony was held on 6 October 2024.", "fa") == []
    assert missing_figures(source, "The ceremony was held on 2024-10-06.", "fa") == []
    assert missing_figures(source, "The ceremony was held on 15 Mehr 1403.", "fa") == []
    assert missing_figures(source, "The ceremony was held on 15 October 2024.", "fa") == [
        "۱۵ مهر ۱۴۰۳"
    ]


def test_a_jalali_year_matches_either_gregorian_year_it_overlaps() -> None:
    for year in ("1403", "2024", "2025"):
        assert missing_figures("بودجه سال ۱۴۰۳", f"the {year} budget", "fa") == [], year
    assert missing_figures("بودجه سال ۱۴۰۳", "the 2026 budget", "fa") == ["۱۴۰۳"]


def test_small_numbers_in_words_are_optional_but_millions_in_words_are_not() -> None:
    assert missing_figures("یک پارک جدید در منطقه ده افتتاح شد.", "A new park opened.", "fa") == []
    assert missing_figures("چهار میلیون زائر خارجی", "foreign pilgrims", "fa") == ["چهار میلیون"]


def test_ordinals_and_number_words_in_the_target_count() -> None:
    assert missing_figures("خط ۲ مترو", "the second metro line", "fa") == []
    assert missing_figures("منطقه ۱۰ شهرداری", "the tenth municipal district", "fa") == []
    assert missing_figures("۳ ایستگاه جدید", "three new stations", "fa") == []
    assert missing_figures("۳ ایستگاه جدید", "три новые станции", "fa") == []
    assert missing_figures("۳ ایستگاه جدید", "ثلاث محطات جديدة", "fa") == []


def test_a_thousand_billion_is_a_trillion() -> None:
    figures = source_figures("۵ هزار میلیارد ریال", "fa")
    assert [f.text for f in figures] == ["۵ هزار میلیارد"]
    assert missing_figures("۵ هزار میلیارد ریال", "5 trillion rials", "fa") == []
    assert missing_figures("۵ هزار میلیارد ریال", "5 billion rials", "fa") == ["۵ هزار میلیارد"]


def test_two_figures_joined_by_and_are_two_figures() -> None:
    assert [f.text for f in source_figures("خطوط ۲ و ۳ مترو", "fa")] == ["۲", "۳"]
    assert missing_figures("خطوط ۲ و ۳ مترو", "metro line 2", "fa") == ["۳"]


# ------------------------------------------------------------------------------ glossary

TERMS = [
    Term(source="شهرداری مشهد", target="Mashhad Municipality"),
    Term(source="مشهد", target="Mashhad"),
    Term(source="حرم", target="the shrine", required=False),
]


def test_a_required_term_missing_is_reported_with_the_source_term() -> None:
    source = "شهرداری مشهد از افتتاح پارک جدید در نزدیکی حرم خبر داد."
    bad = "Mashhad City Hall announced a new park near the holy shrine."
    failure = only(fails([SegmentPair(source, bad)], terms=TERMS), "glossary")
    assert failure.evidence == ["شهرداری مشهد"]
    assert "Mashhad Municipality" in failure.reason
    good = "Mashhad Municipality announced a new park near the holy shrine."
    assert fails([SegmentPair(source, good)], terms=TERMS) == []


def test_glossary_terms_are_matched_per_segment() -> None:
    pairs = [
        SegmentPair("افتتاح پارک جدید", "New park opens"),
        SegmentPair("مشهد میزبان زائران است.", "The city hosts pilgrims."),
    ]
    failure = only(fails(pairs, terms=TERMS), "glossary")
    assert failure.segment == 1 and failure.evidence == ["مشهد"]


# ------------------------------------------------------------------------------ script and copy


def test_a_segment_left_in_persian_is_a_copy_in_its_segment() -> None:
    pairs = [
        SegmentPair(PORTAL, GOOD[12][2]),
        SegmentPair(METROPOLIS, METROPOLIS.replace("دبیرکل", "دبیر کل")),
        SegmentPair(GAZA, GOOD[7][2]),
    ]
    failure = only(fails(pairs), "copy")
    assert failure.segment == 1 and "untranslated" in failure.reason


def test_the_source_returned_unchanged_is_a_copy_even_between_scripts_that_match() -> None:
    failure = only(fails([SegmentPair(GUANGZHOU, GUANGZHOU)], "ar"), "copy")
    assert "unchanged" in failure.reason


def test_persian_passed_off_as_arabic_is_a_copy() -> None:
    persian = GUANGZHOU.replace("دادبود با اعلام این خبر گفت", "دادبود گفت")
    only(fails([SegmentPair(GUANGZHOU, persian)], "ar"), "copy")


def test_english_output_for_a_russian_target_is_the_wrong_script() -> None:
    failure = only(fails([SegmentPair(METROPOLIS, GOOD[6][2])], "ru"), "script")
    assert "Cyrillic" in failure.reason and "Latin" in failure.reason


def test_persian_words_left_inside_english_are_the_wrong_script() -> None:
    target = (
        "Dadbood said that setting up the اتاق گوانگژو at شهرداری گرگان was agreed with the "
        "Guangzhou consulate general and will open soon."
    )
    only(fails([SegmentPair(GUANGZHOU, target)]), "script")


def test_latin_names_and_urls_inside_arabic_are_fine() -> None:
    source = "پایگاه اینترنتی جهانشهر به آدرس news.mashhad.ir به چهار زبان منتشر می‌شود."
    target = "ينشر موقع Jahanshahr على العنوان https://news.mashhad.ir بأربع لغات."
    assert fails([SegmentPair(source, target)], "ar") == []


# ------------------------------------------------------------------------------ length


def test_half_a_sentence_dropped_is_too_short() -> None:
    failure = only(fails([SegmentPair(GUANGZHOU, "Dadbood said a room will open.")]), "length")
    assert "missing" in failure.reason


def test_short_segments_are_exempt_from_length() -> None:
    assert fails([SegmentPair("شهرداری گرگان", "Gorgan Municipality of the city")]) == []


def test_length_bounds_are_per_pair_and_mirror_for_the_reverse_pair() -> None:
    assert length_bounds("fa", "en") == (0.6, 2.2)
    low, high = length_bounds("en", "fa")
    assert low == pytest.approx(1 / 2.2) and high == pytest.approx(1 / 0.6)
    assert length_bounds("fa-IR", "zh")[1] < 1  # Chinese is denser than Persian


# ------------------------------------------------------------------------------ repetition


LOOP_SOURCE = "شهردار مشهد گفت که این شهر سالانه میزبان ۳۰ میلیون زائر ایرانی و خارجی است."


@pytest.mark.parametrize(
    ("target", "evidence"),
    [
        ("The mayor said the city hosts 30 million pilgrims pilgrims pilgrims a year.", "pilgrims"),
        ("The the the mayor said Mashhad hosts 30 million pilgrims a year.", "The"),
        (
            "The mayor said the city hosts 30 million in the city in the city in the city.",
            "in the city",
        ),
    ],
)
def test_a_repetition_loop_is_caught_with_the_repeated_words(target: str, evidence: str) -> None:
    failure = only(fails([SegmentPair(LOOP_SOURCE, target)]), "repetition")
    assert failure.evidence == [evidence]  # as written in the translation, to highlight there
    assert evidence in target


def test_a_repeated_sentence_is_caught() -> None:
    once = "The mayor of Mashhad added that about 20,000 children in Gaza have been killed."
    failure = only(fails([SegmentPair(GAZA, f"{once} {once}")]), "repetition")
    assert failure.evidence == [once]


def test_run_on_output_is_caught() -> None:
    target = GOOD[7][2] + " " + " ".join(f"Sentence {w} about other matters." for w in "abcdefgh")
    failure = only(fails([SegmentPair(GAZA, target)]), "repetition")
    assert "run-on" in failure.reason


# ------------------------------------------------------------------------------ markup, empty

SOURCE_HTML = (
    '<p>مشهد <b>۳۰ میلیون</b> زائر دارد؛ <a href="https://news.mashhad.ir">جهانشهر</a></p>'
    "<ul><li>خط ۱</li><li>خط ۲</li></ul>"
)


def test_a_lost_link_is_caught_with_its_address() -> None:
    target = (
        "<p>Mashhad has <b>30 million</b> pilgrims; Jahanshahr</p>"
        "<ul><li>Line 1</li><li>Line 2</li></ul>"
    )
    failure = only(fails([], source_html=SOURCE_HTML, target_html=target), "markup")
    assert failure.evidence == ['<a href="https://news.mashhad.ir">']


def test_a_lost_list_and_bold_are_caught_and_strong_for_b_is_fine() -> None:
    target = (
        '<p>Mashhad has 30 million pilgrims; <a href="https://news.mashhad.ir">Jahanshahr</a>'
        "</p><p>Line 1, Line 2</p>"
    )
    failure = only(fails([], source_html=SOURCE_HTML, target_html=target), "markup")
    assert set(failure.evidence) == {"<b>", "<li>", "<ul>"}
    fine = (
        '<p>Mashhad has <strong>30 million</strong> pilgrims; <a href="https://news.mashhad.ir">'
        "Jahanshahr</a></p><ul><li>Line 1</li><li>Line 2</li></ul>"
    )
    assert fails([], source_html=SOURCE_HTML, target_html=fine) == []


def test_markup_is_not_checked_without_both_htmls() -> None:
    assert fails([], source_html=SOURCE_HTML) == []


@pytest.mark.parametrize("blank", ["", "   ", " … "])
def test_an_empty_segment_is_caught_once_and_only_as_empty(blank: str) -> None:
    pairs = [SegmentPair(PORTAL, GOOD[12][2]), SegmentPair(PILGRIMS, blank)]
    failure = only(fails(pairs, terms=TERMS), "empty")
    assert failure.segment == 1


def test_an_empty_source_segment_may_stay_empty() -> None:
    assert fails([SegmentPair("", ""), SegmentPair(" ", "")]) == []


# ------------------------------------------------------------------------------ run_checks


def test_a_check_that_raises_is_a_failed_check_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_: checks.Translation) -> list[CheckFailure]:
        raise RuntimeError("boom")

    patched = tuple((n, broken if n == "numbers" else f) for n, f in checks.CHECKS)
    monkeypatch.setattr(checks, "CHECKS", patched)
    failures = fails([SegmentPair(PILGRIMS, "")])
    assert [f.check for f in failures] == ["empty", "numbers"]
    assert failures[1].reason.startswith("the check failed to run: RuntimeError: boom")


def test_every_check_is_named_and_the_version_is_set() -> None:
    names = [n for n, _ in checks.CHECKS]
    assert names == [
        "empty", "numbers", "glossary", "script", "copy", "length", "repetition", "markup"
    ]  # fmt: skip
    assert CHECKS_VERSION


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.text(max_size=200), st.text(max_size=300)), max_size=4),
    source_lang=st.sampled_from(["fa", "en", "ar", "zz", "", "fa-IR"]),
    target_lang=st.sampled_from(["en", "ar", "ru", "zh", "ja", "zz", ""]),
    html=st.one_of(st.none(), st.text(max_size=200)),
)
def test_run_checks_never_raises_on_any_text(
    pairs: list[tuple[str, str]], source_lang: str, target_lang: str, html: str | None
) -> None:
    result = run_checks(
        [SegmentPair(s, t) for s, t in pairs],
        source_lang,
        target_lang,
        [Term(source="مشهد", target="Mashhad")],
        source_html=html,
        target_html="<b>x</b>",
    )
    assert all(isinstance(f, CheckFailure) for f in result)
    assert not [f for f in result if f.reason.startswith("the check failed to run")]


PIECES = (
    "۳۰", "۱۵", "۱۴۰۳", "۰۷", "۹۹", "۳۱", "۰", "میلیون", "هزار", "میلیارد", "و", "مهر", "اسفند",
    "دی", "ماه", "/", "-", ":", "٫", "٬", ",", ".", " ", "\u200c", "سه", "million", "the",
    "thousand", "млн", "مليون", "<b>", "</b>", '<a href="x">', "99999999999999999999",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
            st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
        ),
        max_size=3,
    ),
    target_lang=st.sampled_from(["en", "ar", "ru"]),
)
def test_run_checks_never_raises_on_figure_like_persian(
    pairs: list[tuple[str, str]], target_lang: str
) -> None:
    """Invalid Jalali dates (۱۴۰۳/۹۹/۳۱), huge numbers, dangling separators: never a crash."""
    result = run_checks(
        [SegmentPair(s, t) for s, t in pairs],
        "fa",
        target_lang,
        source_html="".join(s for s, _ in pairs),
        target_html="".join(t for _, t in pairs),
    )
    assert not [f for f in result if f.reason.startswith("the check failed to run")]
    # a translation identical to its source never lacks one of its figures
    for s, _ in pairs:
        assert missing_figures(s, s, "fa") == []


_FA = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=10**9),
    scale=st.sampled_from([("", "", 1), ("هزار", "thousand", 10**3), ("میلیون", "million", 10**6)]),
)
def test_any_figure_written_in_latin_digits_is_found_and_any_other_is_not(
    n: int, scale: tuple[str, str, int]
) -> None:
    fa_scale, en_scale, factor = scale
    source = f"شهرداری {str(n).translate(_FA)} {fa_scale} نفر"
    assert missing_figures(source, f"the city {n:,} {en_scale} people", "fa") == []
    assert missing_figures(source, f"the city {n * factor:,} people", "fa") == []
    assert missing_figures(source, f"the city {n + 7:,} {en_scale} people", "fa") != []


def test_a_degenerate_output_tens_of_thousands_of_characters_long_is_a_loop() -> None:
    """Real models do emit this; the checks must stay linear in it (no regex backtracking)."""
    target = "madeupword2633" * 5000 + " www." + "a" * 20000 + ".ir " + "the " * 5000
    failures = fails([SegmentPair(LOOP_SOURCE, target)])
    assert "repetition" in [f.check for f in failures]
