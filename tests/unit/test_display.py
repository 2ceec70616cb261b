"""How the web pages show dates and text direction (shared/display.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import display


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # ۱۴۰۴/۰۲/۰۹ ۰۷:۲۱ as the sample page prints it (Tehran, UTC+03:30 since 2022)
        (datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC), None, "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱"),
        # Nowruz: the last minute of 1403 (a leap year: 30 Esfand) and the first of 1404
        (datetime(2025, 3, 20, 20, 29, tzinfo=UTC), None, "۳۰ اسفند ۱۴۰۳، ساعت ۲۳:۵۹"),
        (datetime(2025, 3, 20, 20, 30, tzinfo=UTC), None, "۱ فروردین ۱۴۰۴، ساعت ۰۰:۰۰"),
        ("2024-03-07T11:01:00Z", "Asia/Tehran", "۱۷ اسفند ۱۴۰۲، ساعت ۱۴:۳۱"),
        # Tehran kept DST until 2022: +04:30 in summer 2021
        (datetime(2021, 7, 1, 8, 0, tzinfo=UTC), None, "۱۰ تیر ۱۴۰۰، ساعت ۱۲:۳۰"),
        # another zone is named
        (datetime(2025, 4, 29, 3, 51, tzinfo=UTC), "UTC", "۹ اردیبهشت ۱۴۰۴، ساعت ۰۳:۵۱ (UTC)"),
    ],
)
def test_persian_dates_are_jalali_in_persian_digits(
    moment: datetime | str, zone: str | None, expected: str
) -> None:
    assert display.local_time(moment, "fa", zone) == expected
    assert display.local_time(moment, "fa-IR", zone) == expected


def test_other_languages_get_gregorian_dates_with_their_offset() -> None:
    moment = datetime(2025, 4, 29, 3, 51, 53, tzinfo=UTC)
    assert display.local_time(moment, "en", "Asia/Tehran") == "29 April 2025, 07:21 (UTC+03:30)"
    assert display.local_time(moment, "ar") == "29 April 2025, 03:51 (UTC)"
    assert display.local_time(moment, "ru", "America/New_York") == (
        "28 April 2025, 23:51 (UTC-04:00)"
    )
    # stored datetimes come back naive (UTC) from the database
    assert display.local_time(datetime(2025, 4, 29, 3, 51), "en") == "29 April 2025, 03:51 (UTC)"
    assert display.local_time(None, "fa") == display.local_time("not a date", "en") == ""
    assert display.iso(datetime(2025, 4, 29, 3, 51)) == "2025-04-29T03:51:00+00:00"
    assert display.local_time(moment, "en", "No/Such_Zone").endswith("(UTC)")


def test_direction_and_names_by_language() -> None:
    for rtl in ("fa", "ar", "ar-EG", "ur", "he", "fa_IR"):
        assert display.direction(rtl) == "rtl", rtl
    for ltr in ("en", "ru", "tr", "zh-Hans", None, ""):
        assert display.direction(ltr) == "ltr", ltr
    assert display.language_name("fa") == "Persian"
    assert display.language_name("fa", native=True) == "فارسی"
    assert display.language_name("xx") == "xx"
    assert display.date_language("fa-IR") == "fa" and display.date_language("ar") == "en"
