"""The interface's language: which one a request gets, how it writes numbers and dates, and the
switch that remembers a choice (shared/i18n.py, shared/web.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from shared import i18n
from shared.web import install_refusals, interface, language_router, page_environment

MOMENT = datetime(2025, 4, 29, 3, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("fa-IR,fa;q=0.9,en-US;q=0.8,en;q=0.7", ["fa", "en"]),
        ("en;q=0.2, ru;q=0.9, ar", ["ar", "ru", "en"]),
        ("de, *;q=0.5, fa;q=0", ["de"]),
        ("x y z, ;q=1, en;q=abc, tr", ["tr"]),
        ("", []),
        (None, []),
    ],
)
def test_accept_language_is_read_by_quality_then_order(
    header: str | None, wanted: list[str]
) -> None:
    assert i18n.accepted(header) == wanted


def test_the_choice_beats_the_browser_which_beats_the_page_default() -> None:
    assert i18n.choose("ru", "fa-IR,fa", "ar") == "ru"
    assert i18n.choose(None, "de-DE, fa;q=0.5", "ar") == "fa"  # German has no interface
    assert i18n.choose(None, "de-DE", "ar") == "ar"
    assert i18n.choose(None, None, "tr") == "en"  # a publisher writing Turkish: English
    assert i18n.choose("xx", None, None) == "en"  # a forged cookie counts for nothing


def test_numbers_are_written_in_the_interface_languages_digits() -> None:
    assert i18n.Ui("fa").number(12345) == "۱۲٬۳۴۵"
    assert i18n.Ui("ar").number(12345) == "١٢٬٣٤٥"
    assert i18n.Ui("en").number(12345) == "12,345"
    assert i18n.Ui("ru").number(12345) == "12\xa0345"


def test_interface_dates_are_jalali_in_persian_and_babels_elsewhere() -> None:
    assert i18n.Ui("fa").when(MOMENT, "Asia/Tehran") == "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱"
    russian = i18n.Ui("ru").when(MOMENT, "Asia/Tehran")
    assert "апр" in russian and "2025" in russian and "07:21" in russian
    arabic = i18n.Ui("ar").when(MOMENT, "UTC")
    assert "٢٠٢٥" in arabic and "2025" not in arabic
    assert i18n.Ui("en").when(None) == ""


def test_the_switch_lists_every_language_by_its_own_name_and_comes_back_here() -> None:
    ui = i18n.Ui("fa", switch="/desk/language", here="/desk/articles?x=1")
    choices = ui.choices()
    assert [c.code for c in choices] == ["fa", "ar", "en", "ru"]
    assert [c.name for c in choices if c.current] == ["فارسی"]
    assert choices[3].href == "/desk/language/ru?next=/desk/articles%3Fx%3D1"
    assert (ui.direction, ui.back) == ("rtl", "→")
    assert (i18n.Ui("ru").direction, i18n.Ui("ru").back) == ("ltr", "←")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "", "desk", "/a\nb"]
)
def test_coming_back_never_leads_to_another_site(target: str) -> None:
    assert i18n.safe_next(target, "/home") == "/home"


def test_a_template_speaks_the_requests_language() -> None:
    env = page_environment("services.feeds")
    template = env.from_string(
        '<p>{{ _("Skip to content") }}</p><p>{{ n | number }}</p>'
        '<p>{% trans name="Kazan" | bdi %}Hello {{ name }}{% endtrans %}</p>'
    )
    persian = template.render(ui=i18n.Ui("fa"), n=1404)
    assert "رفتن به محتوای اصلی" in persian and "۱٬۴۰۴" in persian
    assert "<bdi>Kazan</bdi>" in persian  # isolated, escaped as markup once
    assert "Skip to content" in template.render(n=1)  # no request's language: English


def app() -> FastAPI:
    api = FastAPI()
    install_refusals(api)
    api.include_router(language_router("/language", "/home"))

    @api.get("/page")
    async def page(request: Request) -> HTMLResponse:
        ui = interface(request, (i18n.SHARED_LOCALES,), "/language", "/home", "en")
        return HTMLResponse(f"{ui.language} {ui.here}")

    return api


async def test_the_switch_remembers_the_choice_in_a_cookie() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as client:
        assert (await client.get("/page", headers={"accept-language": "ar"})).text == "ar /page"
        chose = await client.get("/language/ru", params={"next": "/page?x=1"})
        assert chose.status_code == 303 and chose.headers["location"] == "/page?x=1"
        assert "ui_lang=ru" in chose.headers["set-cookie"]
        assert "httponly" in chose.headers["set-cookie"].lower()
        later = await client.get("/page", headers={"accept-language": "ar"})
        assert later.text == "ru /page"  # remembered, over the browser's languages
        away = await client.get("/language/fa", params={"next": "//evil.example/"})
        assert away.headers["location"] == "/home"
        unknown = await client.get("/language/xx")
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "interface_language_unknown"


@pytest.mark.parametrize(
    ("language", "counts"),
    [("ru", {1: 0, 3: 1, 12: 2, 21: 0}), ("ar", {0: 0, 1: 1, 2: 2, 5: 3, 12: 4, 100: 5})],
)
def test_plural_forms_follow_the_languages_own_rules(language: str, counts: dict[int, int]) -> None:
    messages = i18n.translations((i18n.SHARED_LOCALES,), language)
    assert {n: messages.plural(n) for n in counts} == counts  # type: ignore[attr-defined]


async def test_the_cookie_is_secure_when_the_browser_came_over_https() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as client:
        plain = await client.get("/language/fa")
        proxied = await client.get("/language/fa", headers={"x-forwarded-proto": "https"})
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert "secure" in proxied.headers["set-cookie"].lower()
