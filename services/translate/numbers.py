"""Figures in a source segment and whether a translation kept them (pure, no I/O).

A dropped or altered figure ("۳۰ میلیون زائر" → "3 million pilgrims") is the translation error
a city can least afford, and the one a machine can check: read every figure of the source as a
value, read every value the translation expresses, and report the source figures whose value is
missing. The reading is strict on the source side (only what is clearly a figure is required)
and generous on the target side (every plausible reading of a number counts), because a false
alarm holds a good translation back and costs an editor's time.

Source figures are groups such as ``۳۰ میلیون`` (one value, 30,000,000), ``سه میلیون و ۶۰۰
هزار`` (3,600,000), ``۱۲٬۵۰۰``, ``۳٫۵ درصد``, dates (``۱۵ مهر ۱۴۰۳``, ``۱۴۰۳/۰۷/۱۵``) and times.
A figure is required when it contains a digit, or when it is spelled in words with a scale of a
million or more (``چهار میلیون``); small numbers in words (``یک``, ``دو``, ``صد``, ``هزار``)
are optional, because ``یک`` is as often "a" as "one".

A Jalali date is kept when the translation has the same day and year, or their Gregorian
rendering (day, month as a number or a name, year); a Jalali year alone (``۱۴۰۳``) matches
itself or either Gregorian year it overlaps (2024, 2025).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import dropwhile, pairwise

import jdatetime  # type: ignore[import-untyped]

# ------------------------------------------------------------------------------ lexicons

DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
"""Persian and Arabic-Indic digits to Latin, one character for one (spans stay aligned)."""

SCALES: dict[str, int] = {
    # Persian
    "صد": 100, "هزار": 1000, "میلیون": 10**6, "ملیون": 10**6, "میلیارد": 10**9,
    "بیلیون": 10**9, "تریلیون": 10**12,
    # English
    "hundred": 100, "thousand": 1000, "million": 10**6, "millions": 10**6, "mln": 10**6,
    "mn": 10**6, "billion": 10**9, "bn": 10**9, "trillion": 10**12, "tn": 10**12,
    # Russian
    "сто": 100, "тысяча": 1000, "тысячи": 1000, "тысяч": 1000, "тысячу": 1000, "тыс": 1000,
    "миллион": 10**6, "миллиона": 10**6, "миллионов": 10**6, "млн": 10**6,
    "миллиард": 10**9, "миллиарда": 10**9, "миллиардов": 10**9, "млрд": 10**9,
    "триллион": 10**12, "триллиона": 10**12, "триллионов": 10**12, "трлн": 10**12,
    # Arabic
    "مئة": 100, "مائة": 100, "ألف": 1000, "آلاف": 1000, "الف": 1000, "ألفا": 1000,
    "مليون": 10**6, "ملايين": 10**6, "مليونا": 10**6, "مليار": 10**9, "مليارات": 10**9,
    "بليون": 10**9, "تريليون": 10**12,
    # French, German, Spanish, Turkish
    "mille": 1000, "milliard": 10**9, "milliards": 10**9,
    "tausend": 1000, "mio": 10**6, "millionen": 10**6, "milliarde": 10**9,
    "milliarden": 10**9, "mrd": 10**9,
    "mil": 1000, "millón": 10**6, "millones": 10**6,
    "bin": 1000, "milyon": 10**6, "milyar": 10**9,
}  # fmt: skip

WORD_NUMBERS: dict[str, int] = {
    # Persian (optional in the source, but they build compounds such as سه میلیون)
    "یک": 1, "دو": 2, "سه": 3, "چهار": 4, "پنج": 5, "شش": 6, "شیش": 6, "هفت": 7, "هشت": 8,
    "نه": 9, "ده": 10, "یازده": 11, "دوازده": 12, "بیست": 20, "سی": 30, "چهل": 40,
    "پنجاه": 50, "شصت": 60, "هفتاد": 70, "هشتاد": 80, "نود": 90, "دویست": 200,
    "سیصد": 300, "چهارصد": 400, "پانصد": 500, "ششصد": 600, "هفتصد": 700, "هشتصد": 800,
    "نهصد": 900,
    # English, ordinals included
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "dozen": 12,
    # Russian (common case forms), ordinals by their usual forms
    "один": 1, "одна": 1, "одно": 1, "одного": 1, "два": 2, "две": 2, "двух": 2, "три": 3,
    "трех": 3, "трёх": 3, "четыре": 4, "четырех": 4, "четырёх": 4, "пять": 5, "пяти": 5,
    "шесть": 6, "шести": 6, "семь": 7, "семи": 7, "восемь": 8, "восьми": 8, "девять": 9,
    "девяти": 9, "десять": 10, "десяти": 10, "двадцать": 20, "тридцать": 30, "сорок": 40,
    "пятьдесят": 50, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500,
    "первый": 1, "первая": 1, "первое": 1, "второй": 2, "вторая": 2, "третий": 3,
    "третья": 3, "четвертый": 4, "четвёртый": 4, "пятый": 5, "шестой": 6, "седьмой": 7,
    "восьмой": 8, "девятый": 9, "десятый": 10,
    # Arabic, ordinals included
    "واحد": 1, "واحدة": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2, "ثلاث": 3, "ثلاثة": 3,
    "أربع": 4, "أربعة": 4, "خمس": 5, "خمسة": 5, "ست": 6, "ستة": 6, "سبع": 7, "سبعة": 7,
    "ثمان": 8, "ثماني": 8, "ثمانية": 8, "تسع": 9, "تسعة": 9, "عشر": 10, "عشرة": 10,
    "عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "أربعون": 40, "أربعين": 40,
    "خمسون": 50, "خمسين": 50, "الأول": 1, "الأولى": 1, "الثاني": 2, "الثانية": 2,
    "الثالث": 3, "الثالثة": 3, "الرابع": 4, "الخامس": 5, "السادس": 6, "العاشر": 10,
}  # fmt: skip

CONNECTORS = frozenset({"و", "and", "и", "et", "und", "y", "ve"})

JALALI_MONTHS: dict[str, int] = {
    "فروردین": 1, "اردیبهشت": 2, "خرداد": 3, "تیر": 4, "مرداد": 5, "امرداد": 5,
    "شهریور": 6, "مهر": 7, "آبان": 8, "آذر": 9, "دی": 10, "بهمن": 11, "اسفند": 12,
}  # fmt: skip

_MONTH_NAMES: tuple[tuple[str, ...], ...] = (
    ("january", "jan", "январь", "января", "يناير", "janvier", "januar", "ocak", "enero"),
    ("february", "feb", "февраль", "февраля", "فبراير", "février", "februar", "şubat"),
    ("march", "mar", "март", "марта", "مارس", "mars", "märz", "mart", "marzo"),
    ("april", "apr", "апрель", "апреля", "أبريل", "ابريل", "avril", "nisan", "abril"),
    ("may", "май", "мая", "مايو", "mai", "mayıs", "mayo"),
    ("june", "jun", "июнь", "июня", "يونيو", "juin", "juni", "haziran", "junio"),
    ("july", "jul", "июль", "июля", "يوليو", "juillet", "juli", "temmuz", "julio"),
    ("august", "aug", "август", "августа", "أغسطس", "août", "ağustos", "agosto"),
    ("september", "sep", "sept", "сентябрь", "сентября", "سبتمبر", "septembre", "eylül"),
    ("october", "oct", "октябрь", "октября", "أكتوبر", "اكتوبر", "octobre", "oktober"),
    ("november", "nov", "ноябрь", "ноября", "نوفمبر", "novembre", "kasım", "noviembre"),
    ("december", "dec", "декабрь", "декабря", "ديسمبر", "décembre", "dezember", "aralık"),
)
GREGORIAN_MONTHS: dict[str, int] = {
    name: i + 1 for i, names in enumerate(_MONTH_NAMES) for name in names
}

Fact = tuple[str, Decimal]
"""What a translation expresses: ("n", a value) or ("m", a Gregorian month named in words)."""
Slot = frozenset[Fact]
"""One thing the translation must express, in any of these forms."""
Alternative = tuple[Slot, ...]
"""One acceptable rendering of a figure: every slot filled."""


@dataclass(frozen=True)
class Figure:
    """A figure of the source segment, as written there, and how a translation may render it."""

    text: str
    alternatives: tuple[Alternative, ...]

    def found_in(self, facts: frozenset[Fact]) -> bool:
        return any(all(slot & facts for slot in alt) for alt in self.alternatives)


# ------------------------------------------------------------------------------ tokens

_TOKEN = re.compile(
    r"(?P<date>(?<!\d)\d{1,4}([/\-.])\d{1,2}\2\d{1,4}(?!\d))"
    + r"|(?P<time>(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d))"
    + r"|(?P<num>\d+(?:(?:[,.\u066b\u066c'’/]|[ \u00a0\u202f](?=\d{3}(?!\d)))\d+)*)"
    + r"|(?P<word>(?:[^\W\d_]|\u200c)+)"
)
_GAP = re.compile(r"[\s\u200c\-–]*")
_SEPARATOR = re.compile(r"[^\d]")


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, word (a number word), scale, and, other, date, time, month
    start: int
    end: int
    text: str
    value: Decimal = Decimal(0)
    readings: tuple[tuple[Decimal, ...], ...] = ()


def _dec(digits: str) -> Decimal:
    return Decimal(digits).normalize()


def readings(number: str) -> tuple[tuple[Decimal, ...], ...]:
    """The values a written number may stand for, most likely first.

    ``12,500`` is 12500 (or 12.5 in a text using a decimal comma); ``3٫5`` and ``2/5`` are 3.5
    and 2.5 (Persian writes decimals with ``/`` too); ``12 500`` is 12500 or two numbers."""
    groups = _SEPARATOR.split(number)
    seps = _SEPARATOR.findall(number)
    if not seps:
        return ((_dec(number),),)
    out: list[tuple[Decimal, ...]] = []
    thousands = ",.\u066c'’ \u00a0\u202f"
    if (
        len(set(seps)) == 1
        and seps[0] in thousands
        and len(groups[0]) <= 3
        and all(len(g) == 3 for g in groups[1:])
    ):
        out.append((_dec("".join(groups)),))
    if len(seps) == 1 and seps[0] in ".,\u066b/":
        out.append((_dec(groups[0] + "." + groups[1]),))
    if (
        len(seps) >= 2
        and len(set(seps[:-1])) == 1
        and seps[-1] != seps[0]
        and seps[-1] in ".,\u066b"
        and all(len(g) == 3 for g in groups[1:-1])
    ):
        out.append((_dec("".join(groups[:-1]) + "." + groups[-1]),))
    if not out or seps[0] in " \u00a0\u202f/":
        out.append(tuple(_dec(g) for g in groups))
    return tuple(out)


def _tokens(text: str) -> list[_Tok]:
    latin = text.translate(DIGITS)
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(latin):
        kind = m.lastgroup or "word"
        start, end = m.span()
        if kind == "num":
            r = readings(m.group())
            toks.append(_Tok("num", start, end, m.group(), r[0][-1], r))
            continue
        if kind != "word":
            toks.append(_Tok(kind, start, end, m.group()))
            continue
        word = m.group().casefold()
        if word in SCALES:
            toks.append(_Tok("scale", start, end, word, Decimal(SCALES[word])))
        elif word in WORD_NUMBERS:
            toks.append(_Tok("word", start, end, word, Decimal(WORD_NUMBERS[word])))
        elif word in CONNECTORS:
            toks.append(_Tok("and", start, end, word))
        else:
            toks.append(_Tok("other", start, end, word))
    return toks


# ------------------------------------------------------------------------------ groups


def _extends(group: list[_Tok], tok: _Tok, gap: str) -> bool:
    """Whether ``tok`` continues the number being read (``سه میلیون و ۶۰۰ هزار``,
    ``twenty-four``), rather than starting another one (``۲ و ۳``)."""
    if not group or not _GAP.fullmatch(gap):
        return False
    last = next((t for t in reversed(group) if t.kind != "and"), None)
    if last is None:
        return False
    if tok.kind == "and":
        return True
    after_and = group[-1].kind == "and"
    if tok.kind == "scale":
        return not after_and and last.kind in ("num", "word", "scale")
    # a number: after a scale, or units after tens in words
    if last.kind == "scale":
        return True
    return (
        last.kind == "word"
        and tok.kind == "word"
        and last.value in range(20, 100, 10)
        and tok.value < 10
    )


def _groups(text: str, toks: Sequence[_Tok]) -> list[list[_Tok]]:
    groups: list[list[_Tok]] = []
    current: list[_Tok] = []
    for tok in toks:
        if tok.kind not in ("num", "word", "scale", "and"):
            if current:
                groups.append(current)
            current = []
            continue
        gap = text[current[-1].end : tok.start] if current else ""
        if not _extends(current, tok, gap):
            if current:
                groups.append(current)
            current = [] if tok.kind == "and" else [tok]
        else:
            current.append(tok)
    if current:
        groups.append(current)
    for g in groups:
        while g and g[-1].kind == "and":
            g.pop()
    return [g for g in groups if g]


def _parts(group: Sequence[_Tok]) -> list[Decimal]:
    """The group's values, one per scale step: ``سه میلیون و ۶۰۰ هزار`` is [3e6, 6e5];
    ``۵ هزار میلیارد`` is [5e12]."""
    parts: list[Decimal] = []
    current: Decimal | None = None
    previous: _Tok | None = None
    for tok in group:
        if tok.kind in ("num", "word"):
            current = tok.value if current is None else current + tok.value
        elif tok.kind == "scale":
            if tok.value == 100:
                current = (current if current is not None else Decimal(1)) * 100
            elif current is None and previous is not None and previous.kind == "scale" and parts:
                parts[-1] *= tok.value  # هزار میلیارد: a thousand billion
            else:
                parts.append((current if current is not None else Decimal(1)) * tok.value)
                current = None
        if tok.kind != "and":
            previous = tok
    if current is not None:
        parts.append(current)
    return [p.normalize() for p in parts]


def _total(parts: Sequence[Decimal]) -> Decimal | None:
    if len(parts) > 1 and any(b >= a for a, b in pairwise(parts)):
        return None
    return sum(parts, Decimal(0)).normalize()


def _slot(*values: Decimal | int) -> Slot:
    return frozenset(("n", Decimal(v).normalize()) for v in values)


# ------------------------------------------------------------------------------ the target


MAX_GROUP_TAILS = 16


def target_facts(text: str) -> frozenset[Fact]:
    """Every value ``text`` may express: each number in each reading, each number times its
    scale, compound totals, number words and ordinals, and Gregorian month names."""
    toks = _tokens(text)
    facts: set[Fact] = set()
    latin = text.translate(DIGITS)
    for tok in toks:
        if tok.kind in ("date", "time"):
            facts.update(("n", _dec(n)) for n in re.findall(r"\d+", tok.text))
        elif tok.kind == "num":
            facts.update(("n", v) for r in tok.readings for v in r)
        elif tok.kind == "word":  # a scale alone counts only as "a million" (in _parts)
            facts.add(("n", tok.value.normalize()))
        elif tok.kind == "other" and tok.text.rstrip(".") in GREGORIAN_MONTHS:
            facts.add(("m", Decimal(GREGORIAN_MONTHS[tok.text.rstrip(".")])))
    for group in _groups(latin, toks):
        # Every tail too: the source may read a group's start as something else (a date's year
        # in مهر ۱۴۰۳ میلیون...). Long groups are degenerate text: the whole group only.
        tails = range(len(group) if len(group) <= MAX_GROUP_TAILS else 1)
        for k in (k for k in tails if k == 0 or group[k].kind in ("num", "word")):
            parts = _parts(group[k:])
            facts.update(("n", p) for p in parts)
            total = _total(parts)
            if total is not None:
                facts.add(("n", total))
    return frozenset(facts)


# ------------------------------------------------------------------------------ the source


def _is_required(group: Sequence[_Tok]) -> bool:
    if any(t.kind == "num" for t in group):
        return True
    return any(t.kind == "scale" and t.value >= 10**6 for t in group) and any(
        t.kind == "word" for t in group
    )


def _group_figure(text: str, group: Sequence[_Tok], jalali: bool) -> Figure:
    parts = _parts(group)
    alternatives: list[Alternative] = []
    total = _total(parts)
    if total is not None:
        alternatives.append((_slot(total),))
    if len(parts) > 1:
        alternatives.append(tuple(_slot(p) for p in parts))
    if len(group) == 1 and group[0].kind == "num":
        tok = group[0]
        alternatives += [tuple(_slot(v) for v in r) for r in tok.readings[1:]]
        year = tok.value
        if jalali and len(tok.readings[0]) == 1 and re.fullmatch(r"1[34]\d\d", tok.text):
            alternatives.append((_slot(year + 621, year + 622),))
    return Figure(text[group[0].start : group[-1].end], tuple(alternatives))


def _gregorian_slots(year: int, month: int, day: int | None) -> Alternative | None:
    """The Gregorian rendering of a Jalali date, or ``None`` when it is not a valid date."""
    try:
        if day is not None:
            g = jdatetime.date(year, month, day).togregorian()
            return (_slot(g.day), _slot(g.month) | {("m", Decimal(g.month))}, _slot(g.year))
        first = jdatetime.date(year, month, 1).togregorian()
        last = jdatetime.date(year, month, 29).togregorian()  # every month has a 29th
        return (_slot(first.year, last.year),)
    except (ValueError, OverflowError):
        return None


def _day_anyyear(month: int, day: int) -> Alternative | None:
    """A Jalali day and month without a year: its Gregorian day in the recent years."""
    days = set()
    for year in range(1400, 1410):
        try:
            days.add(jdatetime.date(year, month, day).togregorian().day)
        except ValueError:
            continue
    return (_slot(*days),) if days else None


def _numeric_date(text: str, tok: _Tok, jalali: bool) -> Figure:
    numbers = [int(n) for n in re.findall(r"\d+", tok.text)]
    kept: Alternative = tuple(_slot(n) for n in numbers)
    alternatives = [kept]
    y, m, d = numbers if numbers[0] > 31 else numbers[::-1]
    if jalali and 1300 <= y <= 1499:
        gregorian = _gregorian_slots(y, m, d)
        if gregorian is not None:
            alternatives.append(gregorian)
    return Figure(text[tok.start : tok.end], tuple(alternatives))


def _time(text: str, tok: _Tok) -> Figure:
    numbers = [int(n) for n in re.findall(r"\d+", tok.text)]
    if len(numbers) == 2 and numbers[1] == 0:
        numbers = numbers[:1]  # ۸:۰۰ is "8 am" as well as "08:00"
    alternatives: list[Alternative] = [tuple(_slot(n) for n in numbers)]
    if numbers[0] > 12:
        alternatives.append(tuple(_slot(n) for n in [numbers[0] - 12, *numbers[1:]]))
    return Figure(text[tok.start : tok.end], tuple(alternatives))


def _jalali_dates(text: str, toks: list[_Tok]) -> tuple[list[Figure], set[int]]:
    """``۱۵ مهر ۱۴۰۳``, ``مهر ۱۴۰۳``, ``۱۵ مهر``, ``۱۵ مهر ماه ۱۴۰۳``: figures, and the indexes
    of the tokens they used. A month name with no digit beside it (``دی ماه``) is no figure."""
    figures: list[Figure] = []
    used: set[int] = set()
    for i, tok in enumerate(toks):
        if tok.kind != "other" or tok.text not in JALALI_MONTHS:
            continue
        month = JALALI_MONTHS[tok.text]
        day_i = i - 1 if i > 0 and _small_int(toks[i - 1], 1, 31) else None
        j = i + 1
        if j < len(toks) and toks[j].text == "ماه":
            j += 1
        year_i = j if j < len(toks) and _small_int(toks[j], 1300, 1499) else None
        if day_i is None and year_i is None:
            continue
        day = int(toks[day_i].value) if day_i is not None else None
        year = int(toks[year_i].value) if year_i is not None else None
        kept = tuple(_slot(n) for n in (day, year) if n is not None)
        if year is not None:
            gregorian = _gregorian_slots(year, month, day)
        else:
            gregorian = _day_anyyear(month, day) if day is not None else None
        first = toks[day_i if day_i is not None else i]
        last = toks[year_i if year_i is not None else i]
        alternatives = (kept,) if gregorian is None else (kept, gregorian)
        figures.append(Figure(text[first.start : last.end], alternatives))
        used.update(k for k in (day_i, year_i) if k is not None)
    return figures, used


def _small_int(tok: _Tok, low: int, high: int) -> bool:
    return tok.kind == "num" and tok.text.isdigit() and low <= tok.value <= high


def source_figures(text: str, language: str) -> list[Figure]:
    """The figures of a source segment that its translation must keep, in reading order."""
    toks = _tokens(text)
    jalali = language == "fa"
    figures: list[tuple[int, Figure]] = []
    used: set[int] = set()
    if jalali:
        dates, used = _jalali_dates(text, toks)
        figures += [(0, f) for f in dates]
    for tok in toks:
        if tok.kind == "date":
            figures.append((tok.start, _numeric_date(text, tok, jalali)))
        elif tok.kind == "time":
            figures.append((tok.start, _time(text, tok)))
    remaining = [t for i, t in enumerate(toks) if i not in used]
    latin = text.translate(DIGITS)
    for whole in _groups(latin, remaining):
        # a scale word with no number before it (میلیون‌ها aside) is no figure in the source
        group = list(dropwhile(lambda t: t.kind in ("scale", "and"), whole))
        if group and _is_required(group):
            figures.append((group[0].start, _group_figure(text, group, jalali)))
    figures.sort(key=lambda pair: text.find(pair[1].text))
    return [f for _, f in figures]


def missing_figures(source: str, target: str, source_language: str) -> list[str]:
    """The source's figures (as written there) that the translation does not express."""
    facts = target_facts(target)
    missing = [f.text for f in source_figures(source, source_language) if not f.found_in(facts)]
    return list(dict.fromkeys(missing))


def values(text: str) -> list[Decimal]:
    """Every value ``text`` expresses, sorted (for reasons and debugging)."""
    return sorted({v for kind, v in target_facts(text) if kind == "n"})
