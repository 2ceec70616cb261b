"""Publication dates as Iranian news pages print them: finding them in text and reading them.

Pure functions, no I/O. Pages print Solar Hijri (Jalali) dates in Persian, Arabic-Indic or
Latin digits, sometimes with Arabic-letter spellings of the month, and times in local time with
no offset; feeds need an aware UTC instant, so the zone's history (Iran's DST until 2022) matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as FixedOffset
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime  # type: ignore[import-untyped]
from persiantools.digits import ar_to_fa, fa_to_en

from shared.contracts import EARLIEST_YEAR, LATEST_YEAR

# Month names in order, in the Persian spelling (Arabic-letter variants are folded first).
from shared.display import GREGORIAN_MONTHS, JALALI_MONTHS

#: Weekdays; a ZWNJ marks where writers also put a space or nothing ("سه شنبه", "سهشنبه").
WEEKDAYS = ("شنبه", "یک‌شنبه", "دو‌شنبه", "سه‌شنبه", "چهار‌شنبه", "پنج‌شنبه", "جمعه")
#: Years below this are Solar Hijri (1404 is 2025), the rest Gregorian.
JALALI_YEAR_LIMIT = 1700

_ARABIC_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "\u200c": ""})
_D = "[0-9۰-۹٠-٩]"


def _spelling(word: str) -> str:
    """Regex for a Persian word that also matches Arabic yeh/kaf and ZWNJ written as a space."""
    variants = {"ی": "[یيى]", "ک": "[کك]", "\u200c": "[\u200c ]?"}
    return "".join(variants.get(ch, re.escape(ch)) for ch in word)


def _names(words: tuple[str, ...]) -> str:
    return "|".join(_spelling(w) for w in sorted(words, key=len, reverse=True))


_GREGORIAN = "|".join(f"{m[:3]}(?:{m[3:]})?" for m in GREGORIAN_MONTHS)
_TIME = (
    rf"(?:T|[\s\-|،,–—]{{1,10}}(?:ساعت[\s:]*)?|\s*ساعت[\s:]*)"
    rf"(?P<hour>{_D}{{1,2}}):(?P<minute>{_D}{{2}})(?::(?P<second>{_D}{{2}})(?:[.,]{_D}+)?)?"
    rf"(?:\s?(?P<offset>Z|[+-]{_D}{{2}}:?{_D}{{2}}))?"
)
_WEEKDAY = rf"(?:(?:{_names(WEEKDAYS)})[\s،,]+)?"
_END = rf"(?!{_D})"
_PATTERNS = (
    re.compile(
        rf"(?<!{_D})(?P<year>{_D}{{4}})(?P<sep>[/\-.])(?P<month>{_D}{{1,2}})(?P=sep)"
        rf"(?P<day>{_D}{{1,2}}){_END}(?:{_TIME}{_END})?"
    ),
    re.compile(
        rf"{_WEEKDAY}(?<!{_D})(?P<day>{_D}{{1,2}})\s*"
        rf"(?P<name>{_names(JALALI_MONTHS)}|(?i:{_GREGORIAN}))(?:\s*ماه)?[\s,،]*"
        rf"(?P<year>{_D}{{4}}){_END}(?:{_TIME}{_END})?"
    ),
    re.compile(
        rf"(?i:(?P<name>{_GREGORIAN}))\s+(?P<day>{_D}{{1,2}}),?\s+"
        rf"(?P<year>{_D}{{4}}){_END}(?:{_TIME}{_END})?"
    ),
)
#: A day, a word and a year: a date with a month this module does not know.
_LOOSE = re.compile(rf"(?<!{_D}){_D}{{1,2}}\s+(?P<word>[^\W\d_]+)(?:\s+ماه)?\s+{_D}{{4}}(?!{_D})")


class DateError(ValueError):
    """A date that cannot be read, with a reason an editor can act on."""

    def __init__(self, text: str, reason: str) -> None:
        shown = " ".join(text.split())
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(f"cannot read the date '{shown}': {reason}")
        self.text = text
        self.reason = reason


@dataclass(frozen=True)
class _Found:
    printed: str
    match: re.Match[str]


def latin_digits(text: str) -> str:
    """`text` with Persian and Arabic-Indic digits written as Latin digits."""
    return fa_to_en(ar_to_fa(text))


def _latin(digits: str) -> int:
    return int(latin_digits(digits))


def _find(text: str) -> _Found | None:
    """The earliest date in `text`; at equal starts the longest (the one with its time)."""
    matches = [m for p in _PATTERNS if (m := p.search(text))]
    if not matches:
        return None
    m = min(matches, key=lambda m: (m.start(), -m.end()))
    printed = m.group()
    if m.group("hour") is not None and "\n" in printed:
        # Date and time on separate lines ("۱۴۰۴/۰۲/۰۹\n|\n۰۷:۲۱:۵۳"): join the two as printed.
        time_start = m.start("hour") - m.start()
        date_part = printed[:time_start].rstrip(" \t\n|-–—،,")
        printed = f"{date_part} {printed[time_start:]}"
    return _Found(printed, m)


def find_date(text: str) -> str | None:
    """The first date printed in `text`, with its time when printed next to it, as printed."""
    found = _find(text)
    return found.printed if found else None


def _month(m: re.Match[str]) -> tuple[int, bool]:
    """Month number and whether the calendar is Jalali (named months decide it themselves)."""
    name = m.groupdict().get("name")
    if name is None:
        return _latin(m.group("month")), _latin(m.group("year")) < JALALI_YEAR_LIMIT
    folded = name.translate(_ARABIC_LETTERS).replace(" ", "").casefold()
    if folded in JALALI_MONTHS:
        return JALALI_MONTHS.index(folded) + 1, True
    gregorian = [g.casefold()[: len(folded)] for g in GREGORIAN_MONTHS]
    return gregorian.index(folded) + 1, False


def _offset(text: str) -> FixedOffset:
    if text == "Z":
        return UTC
    digits = latin_digits(text).replace(":", "")
    minutes = int(digits[1:3]) * 60 + int(digits[3:5])
    if minutes >= 24 * 60:
        raise ValueError("the UTC offset is out of range")
    return FixedOffset(timedelta(minutes=-minutes if digits[0] == "-" else minutes))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DateError(name, "unknown time zone") from exc


def parse_date(text: str, timezone: str = "Asia/Tehran") -> datetime:
    """The first date in `text` as an aware UTC datetime.

    Jalali when the year is below 1700 (or the month is a Jalali name), Gregorian otherwise.
    A time with no offset is local time in `timezone` (zoneinfo knows Iran's DST history); no
    time means midnight local. Raises DateError saying why the date cannot be read, also for a
    date outside the years shared.contracts allows (Jalali year 1 is 622 AD, 1699 is 2320).
    """
    zone = _zone(timezone)
    found = _find(text)
    if found is None:
        loose = _LOOSE.search(text)
        if loose:
            raise DateError(loose.group(), f"unknown month '{loose.group('word')}'")
        raise DateError(text, "no date found")
    m = found.match
    try:
        month, jalali = _month(m)
        year, day = _latin(m.group("year")), _latin(m.group("day"))
        if jalali != (year < JALALI_YEAR_LIMIT):
            calendar_name = "Solar Hijri" if jalali else "Gregorian"
            raise ValueError(f"the year {year} is not a {calendar_name} year")
        if jalali:
            date = jdatetime.date(year, month, day).togregorian()
            year, month, day = date.year, date.month, date.day
        if not EARLIEST_YEAR <= year <= LATEST_YEAR:  # before any arithmetic can overflow
            raise ValueError(
                f"out of range: dates must fall in the years {EARLIEST_YEAR} to {LATEST_YEAR}"
            )
        hour, minute, second = (_latin(g) if g else 0 for g in m.group("hour", "minute", "second"))
        offset = m.group("offset")
        tz = _offset(offset) if offset else zone
        return datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        reason = str(exc).replace("must be in", "must be in the range")
        raise DateError(found.printed, reason) from exc
