"""How the web pages show dates and text direction (shared/display.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

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


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        " https://x.example/",
        "java\tscript:alert(1)",
        "https://x.example/\n",
        "data:text/html,x",
        "//evil.example/",
        "/relative",
        "http://",
        "https://[::1",
        None,
        42,
    ],
)
def test_only_absolute_http_urls_may_become_links(url: object) -> None:
    assert display.http_url(url) is None


def test_http_urls_are_kept_as_written() -> None:
    for url in ("https://www.mashhad.ir", "HTTP://Tehran.ir/a?b=1#c", "http://127.0.0.1:8080/x"):
        assert display.http_url(url) == url


async def test_every_html_answer_gets_the_strict_policy_and_api_pages_theirs() -> None:
    """The middleware every service runs (shared/service.py): whichever route or error handler
    made an HTML page, it leaves with the CSP; JSON is left alone; FastAPI's /docs gets a policy
    that allows its one inline script by hash, and still no 'unsafe-inline' script."""
    app = FastAPI()

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", status_code=404)

    @app.get("/data")
    async def data() -> JSONResponse:
        return JSONResponse({"a": 1})

    app.add_middleware(display.PageHeaders, docs=(app.docs_url, app.redoc_url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        html_page = await client.get("/page")
        strict = display.PAGE_HEADERS["Content-Security-Policy"]
        assert html_page.headers["content-security-policy"] == strict
        assert "content-security-policy" not in (await client.get("/data")).headers
        docs = await client.get("/docs")
    policy = docs.headers["content-security-policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
    assert docs.text.count("<script>") == 1
    assert policy == display.docs_policy(docs.content)
