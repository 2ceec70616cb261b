"""The municipal reference set: well-formed, correctly written, and its figures agree.

A reference that drops a figure or misdates an event would reward a model for the very mistakes
the automatic checks are meant to catch, so the set is held to them: every figure of the Persian
source (scale words and separators resolved, Jalali dates converted to the Gregorian date the
references print) must appear in the English, Arabic and Russian references, and the three
references must carry the same figures as one another.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jdatetime  # type: ignore[import-untyped]
import pytest

REFSET = Path(__file__).parents[3] / "services" / "translate" / "refsets" / "municipal.jsonl"
LANGUAGES = ("fa", "en", "ar", "ru")
DOMAINS = {
    "diplomacy", "transport", "culture", "tourism", "services",
    "budget", "health_education", "sport", "environment", "events",
}  # fmt: skip

ZWNJ = "\u200c"
DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
FA_MONTHS = (
    "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
    "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند",
)  # fmt: skip
FA_WEEKDAYS = ("دوشنبه", f"سه{ZWNJ}شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه")
EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
RU_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
AR_MONTHS = (
    "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
    "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
)  # fmt: skip
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RU_WEEKDAYS = ("понедельник", "вторник", "сред", "четверг", "пятниц", "суббот", "воскресень")
AR_WEEKDAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")

# Scale words after a figure, per language; "هزار میلیارد" multiplies through (10^12).
SCALES = {
    "fa": {"هزار": 1e3, "میلیون": 1e6, "میلیارد": 1e9},
    "en": {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12},
    "ar": {"ألف": 1e3, "آلاف": 1e3, "مليون": 1e6, "ملايين": 1e6, "مليار": 1e9, "مليارات": 1e9},
    "ru": {
        "тыс.": 1e3, "тысяч": 1e3, "тысячи": 1e3, "тысяча": 1e3,
        "млн": 1e6, "миллион": 1e6, "миллиона": 1e6, "миллионов": 1e6,
        "млрд": 1e9, "миллиард": 1e9, "миллиарда": 1e9, "миллиардов": 1e9, "трлн": 1e12,
    },
}  # fmt: skip
# Thousands grouping and decimal mark as each language's press writes them.
NUMBER = {
    "fa": r"\d+(?:٬\d{3})*(?:٫\d+)?",
    "en": r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?",
    "ar": r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?",
    "ru": r"\d{1,3}(?:[ \u00a0]\d{3})+(?:,\d+)?|\d+(?:,\d+)?",
}

# (thousands separator, decimal mark)
MARKS = {"fa": ("٬", "٫"), "ru": (" ", ","), "en": (",", "."), "ar": (",", ".")}


@dataclass(frozen=True)
class Entry:
    id: str
    domain: str
    fa: str
    en: str
    ar: str
    ru: str

    def text(self, language: str) -> str:
        return str(getattr(self, language))


def load() -> list[Entry]:
    entries = []
    for number, line in enumerate(REFSET.read_text(encoding="utf-8").splitlines(), 1):
        data = json.loads(line)
        assert set(data) == {"id", "domain", *LANGUAGES}, f"line {number}: keys {sorted(data)}"
        entries.append(Entry(**data))
    return entries


ENTRIES = load()


def _value(token: str, language: str) -> float:
    group, point = MARKS[language]
    cleaned = token.translate(DIGITS).replace("\u00a0", " ").replace(group, "")
    return float(cleaned.replace(point, "."))


def figures(text: str, language: str) -> set[float]:
    """Every figure in ``text`` as a value: "۲۰ هزار", "20,000" and "20 тыс." are all 20000, and
    "۳ میلیون و ۶۰۰ هزار" is 3.6 million."""
    scales = SCALES[language]
    words = "|".join(map(re.escape, sorted(scales, key=len, reverse=True)))
    scaled = rf"(?<![\d.,٫٬])({NUMBER[language]})((?:\s+(?:{words})(?!\w))*)"
    found: list[tuple[float, float, bool]] = []  # value, its scale, joined to the previous
    last_end = -1
    for match in re.finditer(scaled, text):
        scale = 1.0
        for word in match.group(2).split():
            scale *= scales[word]
        value = _value(match.group(1), language) * scale
        between = text[last_end : match.start()].strip()
        joined = bool(found) and between in {"و", "and", "и"} and found[-1][1] > value > 0
        found.append((value, scale, joined))
        last_end = match.end()
    # "۳ میلیون و ۶۰۰ هزار": a figure with a larger scale, "and", a smaller one make one figure.
    result: set[float] = set()
    for index, (value, _, joined) in enumerate(found):
        if index + 1 < len(found) and found[index + 1][2]:
            result.add(round(value + found[index + 1][0], 3))
        elif not joined:
            result.add(round(value, 3))
    return result


@dataclass(frozen=True)
class JalaliDate:
    span: tuple[int, int]
    gregorian: date
    weekday: str | None


def jalali_dates(fa: str) -> list[JalaliDate]:
    """Jalali dates written "۱۵ مهر ۱۴۰۳" (weekday optional) or "۱۴۰۳/۰۷/۱۵"."""
    months = "|".join(FA_MONTHS)
    weekdays = "|".join(FA_WEEKDAYS)
    spelled = rf"(?:({weekdays})\s+)?(\d{{1,2}})\s+({months})(?:\s+ماه)?\s+(\d{{4}})"
    found = []
    for m in re.finditer(spelled, fa):
        day, year = int(m.group(2).translate(DIGITS)), int(m.group(4).translate(DIGITS))
        g = jdatetime.date(year, FA_MONTHS.index(m.group(3)) + 1, day).togregorian()
        found.append(JalaliDate(m.span(), g, m.group(1)))
    for m in re.finditer(r"(\d{4})/(\d{1,2})/(\d{1,2})", fa):
        y, mo, d = (int(part.translate(DIGITS)) for part in m.groups())
        found.append(JalaliDate(m.span(), jdatetime.date(y, mo, d).togregorian(), None))
    return found


def without_dates(fa: str) -> str:
    for found in sorted(jalali_dates(fa), key=lambda d: d.span, reverse=True):
        fa = fa[: found.span[0]] + " ، " + fa[found.span[1] :]
    return fa


def _share(text: str, test: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if test in unicodedata.name(c, "")) / max(len(letters), 1)


# --- the checker itself must catch what it is there to catch -----------------------------


def test_figures_resolve_scales_separators_and_decimals() -> None:
    assert figures("۲۰ هزار کودک و ۲٫۵ درصد", "fa") == {20000, 2.5}
    assert figures("20,000 children and 2.5 percent", "en") == {20000, 2.5}
    assert figures("20 тыс. детей и 2,5 процента", "ru") == {20000, 2.5}
    assert figures("12 500 домов", "ru") == {12500}
    assert figures("20 ألف طفل و2.5 بالمئة", "ar") == {20000, 2.5}
    assert figures("۱۲ هزار میلیارد ریال", "fa") == {12e12}


def test_compound_figures_add_up() -> None:
    assert figures("سه میلیون و ۶۰۰ هزار نفر", "fa") == {600000}
    assert figures("۳ میلیون و ۶۰۰ هزار نفر", "fa") == figures("3.6 million people", "en")
    assert figures("۳۰ میلیون زائر", "fa") != figures("3 million pilgrims", "en")


def test_jalali_dates_convert_with_their_weekday() -> None:
    [found] = jalali_dates("روز یکشنبه ۱۵ مهر ۱۴۰۳ برگزار شد")
    assert found.gregorian == date(2024, 10, 6)
    assert found.weekday == "یکشنبه"
    assert jalali_dates("در تاریخ ۱۴۰۴/۰۲/۰۹")[0].gregorian == date(2025, 4, 29)
    assert figures(without_dates("۱۵ مهر ۱۴۰۳ و ۳۰ میلیون"), "fa") == {30e6}


# --- the shipped set ----------------------------------------------------------------------


def test_enough_entries_in_every_domain_with_unique_ids() -> None:
    assert len(ENTRIES) >= 150
    ids = [e.id for e in ENTRIES]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"m\d{3}", i) for i in ids)
    per_domain = Counter(e.domain for e in ENTRIES)
    assert set(per_domain) == DOMAINS
    assert min(per_domain.values()) >= 12, per_domain


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_side_is_filled_and_tidy(language: str) -> None:
    for e in ENTRIES:
        text = e.text(language)
        assert text and text == text.strip(), e.id
        assert "  " not in text and "\n" not in text, e.id
        assert unicodedata.normalize("NFC", text) == text, e.id
        if language != "fa":
            assert ZWNJ not in text, e.id


def test_persian_is_written_in_persian_orthography() -> None:
    for e in ENTRIES:
        assert not re.search("[يكى]", e.fa), f"{e.id}: Arabic ي/ك/ى in Persian"
        assert not re.search(r"[0-9٠-٩]", e.fa), f"{e.id}: Persian digits expected"
        assert not re.search(r"[A-Za-z]", e.fa), f"{e.id}: Latin letters in Persian"
        assert not re.search(r"[,;?]", e.fa), f"{e.id}: Latin punctuation, want ، ؛ ؟"
        words = re.split(r"[\s،؛:.«»()؟!]+", e.fa)
        assert not {"می", "نمی", "ها", "های", "تر", "ترین"} & set(words), f"{e.id}: ZWNJ missing"
        assert "بین المللی" not in e.fa, f"{e.id}: بین‌المللی takes a ZWNJ"
        assert not re.search(rf"{ZWNJ}(\s|$)|(^|\s){ZWNJ}|{ZWNJ}{ZWNJ}", e.fa), e.id
        assert e.fa.count("«") == e.fa.count("»"), e.id


def test_arabic_and_russian_references_are_in_their_scripts() -> None:
    for e in ENTRIES:
        assert _share(e.ar, "ARABIC") > 0.95, e.id
        assert not re.search("[یکگپچژ۰-۹٠-٩]", e.ar), f"{e.id}: Persian letters or non-Latin digits"
        assert _share(e.ru, "CYRILLIC") > 0.9, e.id
        # Cyrillic letters of other alphabets (ғ, һ, і) slip in when names are transliterated.
        assert not re.findall(r"[^\W\d_A-Za-zА-Яа-яЁё]", e.ru), f"{e.id}: not Russian letters"
        assert _share(e.en, "LATIN") > 0.99, e.id
        for language in ("ar", "ru"):
            text = e.text(language)
            assert text.count("«") == text.count("»"), f"{e.id} {language}"


def test_figures_of_the_source_are_in_every_reference() -> None:
    for e in ENTRIES:
        source = figures(without_dates(e.fa), "fa")
        for language in ("en", "ar", "ru"):
            missing = source - figures(e.text(language), language)
            assert not missing, f"{e.id} {language}: {sorted(missing)} missing"


def test_references_carry_the_same_figures() -> None:
    for e in ENTRIES:
        english = figures(e.en, "en")
        assert figures(e.ar, "ar") == english, e.id
        assert figures(e.ru, "ru") == english, e.id


def test_jalali_dates_are_rendered_as_the_right_gregorian_date_and_weekday() -> None:
    for e in ENTRIES:
        for found in jalali_dates(e.fa):
            g = found.gregorian
            assert f"{g.day} {EN_MONTHS[g.month - 1]} {g.year}" in e.en, e.id
            assert f"{g.day} {RU_MONTHS[g.month - 1]} {g.year}" in e.ru, e.id
            assert f"{g.day} {AR_MONTHS[g.month - 1]} {g.year}" in e.ar, e.id
            if found.weekday is not None:
                assert FA_WEEKDAYS[g.weekday()] == found.weekday, f"{e.id}: wrong weekday"
                assert EN_WEEKDAYS[g.weekday()] in e.en, e.id
                assert RU_WEEKDAYS[g.weekday()] in e.ru.lower(), e.id
                assert AR_WEEKDAYS[g.weekday()] in e.ar, e.id


def test_set_exercises_what_machine_translation_gets_wrong() -> None:
    with_dates = [e for e in ENTRIES if jalali_dates(e.fa)]
    with_scaled = [e for e in ENTRIES if re.search("[۰-۹] (هزار|میلیون|میلیارد)", e.fa)]
    with_quotes = [e for e in ENTRIES if "«" in e.fa]
    long_ones = [e for e in ENTRIES if len(e.fa.split()) >= 40]
    assert len(with_dates) >= 10
    assert len(with_scaled) >= 20
    assert len(with_quotes) >= 10
    assert len(long_ones) >= 5
    assert any("مشهد" in e.fa and "Mashhad" in e.en and "Мешхед" in e.ru for e in ENTRIES)
