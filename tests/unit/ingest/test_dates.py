from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.dates import JALALI_MONTHS, DateError, find_date, parse_date

FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱", utc(2024, 3, 7, 11, 1)),
        ("۱۴۰۴/۰۲/۰۹ | ۰۷:۲۱:۵۳", utc(2025, 4, 29, 3, 51, 53)),
        ("۱۴۰۴/۰۲/۰۹ ۰۷:۲۱:۵۳", utc(2025, 4, 29, 3, 51, 53)),
        ("1402/12/17 14:31", utc(2024, 3, 7, 11, 1)),
        ("1402-12-17", utc(2024, 3, 6, 20, 30)),
        ("2024-03-07T11:01:00Z", utc(2024, 3, 7, 11, 1)),
        ("2024-03-07T14:31:00+03:30", utc(2024, 3, 7, 11, 1)),
        ("2024-03-07T06:01:00-05:00", utc(2024, 3, 7, 11, 1)),
        ("2024-03-07 14:31", utc(2024, 3, 7, 11, 1)),
        ("پنجشنبه ۱۷ اسفند ۱۴۰۲ ساعت ۱۴:۳۱", utc(2024, 3, 7, 11, 1)),
        ("سه‌شنبه ۹ اردیبهشت ۱۴۰۴", utc(2025, 4, 28, 20, 30)),
        ("سه شنبه، ۹ اردیبهشت ۱۴۰۴ - ۰۷:۲۱", utc(2025, 4, 29, 3, 51)),
        ("۱۰ دی ماه ۱۴۰۲", utc(2023, 12, 30, 20, 30)),
        ("7 March 2024", utc(2024, 3, 6, 20, 30)),
        ("March 7, 2024 14:31", utc(2024, 3, 7, 11, 1)),
    ],
)
def test_printed_formats(printed: str, expected: datetime) -> None:
    assert parse_date(printed) == expected
    assert find_date(f"منتشر شده در {printed} توسط خبرنگار") == printed


def test_a_date_without_time_is_local_midnight() -> None:
    assert parse_date("۱۴۰۴/۰۲/۰۹") == utc(2025, 4, 28, 20, 30)


def test_result_is_aware_utc() -> None:
    assert parse_date("۱۷ اسفند ۱۴۰۲ - ۱۴:۳۱").tzinfo is UTC


def test_iran_observed_dst_until_september_2022_and_not_after() -> None:
    assert parse_date("۱۰ تیر ۱۴۰۰ - ۱۲:۰۰") == utc(2021, 7, 1, 7, 30)  # +04:30
    assert parse_date("۱۰ تیر ۱۴۰۱ - ۱۲:۰۰") == utc(2022, 7, 1, 7, 30)  # +04:30
    assert parse_date("۱۰ تیر ۱۴۰۲ - ۱۲:۰۰") == utc(2023, 7, 1, 8, 30)  # +03:30
    assert parse_date("۱۰ دی ۱۴۰۰ - ۱۲:۰۰") == utc(2021, 12, 31, 8, 30)  # winter: +03:30


def test_arabic_letter_spellings_of_months() -> None:
    assert parse_date("۱۰ دي ۱۴۰۲") == parse_date("۱۰ دی ۱۴۰۲") == utc(2023, 12, 30, 20, 30)
    assert parse_date("۹ ارديبهشت ۱۴۰۴") == utc(2025, 4, 28, 20, 30)


def test_arabic_indic_digits() -> None:
    assert find_date("خبر ١٧ اسفند ١٤٠٢ - ١٤:٣١") == "١٧ اسفند ١٤٠٢ - ١٤:٣١"
    assert parse_date("١٧ اسفند ١٤٠٢ - ١٤:٣١") == utc(2024, 3, 7, 11, 1)
    assert parse_date("١٤٠٤/٠٢/٠٩") == utc(2025, 4, 28, 20, 30)


def test_other_time_zones() -> None:
    assert parse_date("2024-03-07 14:31", timezone="Europe/Berlin") == utc(2024, 3, 7, 13, 31)
    assert parse_date("2024-03-07T14:31:00Z", timezone="Europe/Berlin") == utc(2024, 3, 7, 14, 31)


def test_find_date_joins_a_time_printed_on_the_following_lines() -> None:
    page = "تیتر\n\n|\n۱۴۰۴/۰۲/۰۹\n|\n۰۷:۲۱:۵۳\n| کد خبر: ۲۲۱۲۳۰۳\nمتن"
    assert find_date(page) == "۱۴۰۴/۰۲/۰۹ ۰۷:۲۱:۵۳"
    assert parse_date(page) == utc(2025, 4, 29, 3, 51, 53)


def test_find_date_returns_the_first_date() -> None:
    text = "۱۷ اسفند ۱۴۰۲ و بعد ۱۴۰۴/۰۲/۰۹ و 2024-03-07"
    assert find_date(text) == "۱۷ اسفند ۱۴۰۲"


def test_find_date_without_a_date() -> None:
    assert find_date("به مناسبت روز دهم دی ماه، در ساعت ۱۴") is None
    assert find_date("کد خبر : ۱۳۱۴۴۱۵") is None
    assert find_date("") is None


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        ("۳۲ اسفند ۱۴۰۲", "day is out of range for month"),
        ("۳۰ اسفند ۱۴۰۲", "day is out of range for month"),  # 1402 is not a leap year
        ("1402/13/01", "month must be in the range 1..12"),
        ("۱۷ اسفنند ۱۴۰۲", "unknown month 'اسفنند'"),
        ("1402/12/17 25:00", "hour must be in the range 0..23"),
        ("۱۷ اسفند ۲۰۲۴", "the year 2024 is not a Solar Hijri year"),
        ("2024-03-07T14:31:00+25:00", "the UTC offset is out of range"),
        ("امروز", "no date found"),
    ],
)
def test_unreadable_dates_say_why(printed: str, reason: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(printed)
    assert str(caught.value) == f"cannot read the date '{printed}': {reason}"
    assert caught.value.reason == reason


def test_leap_day_of_a_leap_year_is_fine() -> None:
    assert parse_date("۳۰ اسفند ۱۴۰۳") == utc(2025, 3, 19, 20, 30)


def test_unknown_time_zone_is_a_date_error() -> None:
    with pytest.raises(DateError, match="unknown time zone"):
        parse_date("1402/12/17", timezone="Mars/Olympus")


def test_long_text_is_shortened_in_the_message() -> None:
    with pytest.raises(DateError) as caught:
        parse_date("متن " * 100)
    assert len(str(caught.value)) < 120


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_ever_raises_date_error(text: str) -> None:
    found = find_date(text)
    assert found is None or isinstance(found, str)
    try:
        assert parse_date(text).tzinfo is UTC
    except DateError:
        pass


DATE_LIKE = st.text(
    alphabet="۰۱۲۳۴۵۶۷۸۹٠١٢٣0123456789/-:.|T Z+\nاسفند دی ماه ساعت March", max_size=40
)


@settings(max_examples=300, deadline=None)
@given(DATE_LIKE)
def test_date_like_text_only_ever_raises_date_error(text: str) -> None:
    try:
        assert parse_date(text).tzinfo is UTC
    except DateError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    year=st.integers(1300, 1477),  # 1478/10/11 is 2100, out of range
    month=st.integers(1, 12),
    day=st.integers(1, 29),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_month_names_and_numbers_agree(
    year: int, month: int, day: int, hour: int, minute: int
) -> None:
    named = f"{day} {JALALI_MONTHS[month - 1]} {year} - {hour}:{minute:02}".translate(FA_DIGITS)
    numeric = f"{year}/{month:02}/{day:02} {hour:02}:{minute:02}"
    assert parse_date(named) == parse_date(numeric)


# ------------------------------------------------------------------ the sane range (issue 18)


@pytest.mark.parametrize(
    "printed",
    ["0001/01/01", "۰۰۰۱/۰۱/۰۱", "1 فروردین 0001", "1699/12/29", "9999-12-31", "1899-12-31"],
)
def test_a_date_outside_1900_to_2099_is_an_error_with_a_reason(printed: str) -> None:
    with pytest.raises(DateError, match="out of range"):
        parse_date(printed)


@settings(max_examples=300, deadline=None)
@given(
    year=st.integers(min_value=1, max_value=9999),
    month=st.integers(min_value=1, max_value=12),
    day=st.integers(min_value=1, max_value=31),
    persian=st.booleans(),
)
def test_any_printed_date_is_in_range_or_a_date_error(
    year: int, month: int, day: int, persian: bool
) -> None:
    printed = f"{year:04d}/{month:02d}/{day:02d} 23:59"
    if persian:
        printed = printed.translate(FA_DIGITS)
    try:
        when = parse_date(printed)
    except DateError:
        return
    assert utc(1899, 12, 31) <= when <= utc(2100, 1, 1)
