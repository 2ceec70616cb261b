"""An editor and a partner city in a real browser, on the real stack.

The editor signs in to the desk with their key, pastes a real Persian page, sees what ingest
extracts (headline, Jalali date, news code, body), publishes it, watches each language become
published (the deterministic test engine translates), compares source and English side by side,
edits and approves the English translation; the partner portal then shows the approved text in
the public English feed and in a partner's private feed (with its token). Then a correction and a
withdrawal through the desk reach the feeds. Persian and Arabic blocks are checked to be laid out
right to left, by the browser's computed style. Each page is photographed (docs/screenshots).

The tests run in order and share the story (one article) and the browser tabs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.e2e.conftest import Screenshots
from tests.integration.conftest import FIXTURES, System, await_article

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SAMPLE = FIXTURES / "samples" / "mashhad-metropolis-secretary-general.txt"
# Ingest restores the ZWNJ the page lost ("بین المللی").
HEADLINE = "دبیرکل متروپلیس: مشهد در حال تبدیل شدن به بازیگر بین\u200cالمللی است"
JALALI = "۹ اردیبهشت ۱۴۰۴، ساعت ۰۷:۲۱"  # the page prints ۱۴۰۴/۰۲/۰۹ ۰۷:۲۱:۵۳ (Tehran)
APPROVED_HEADLINE = "Metropolis Secretary General: Mashhad is becoming an international player"
APPROVED_BODY = (
    "The Secretary General of Metropolis, the world association of major metropolises, said "
    "that Mashhad appears to be the centre of city diplomacy in Iran.\n\n"
    "Reviewed by the Mashhad desk."
)
CORRECTED = HEADLINE + " (اصلاحیه)"
SLOW = 60_000  # ms: a state that needs Kafka, translate and a feed render


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    """What the tests of this module learn and pass on (the article id)."""
    return {}


async def direction(locator: Locator) -> str:
    """The text direction the browser lays the element out in."""
    found: str = await locator.evaluate("element => getComputedStyle(element).direction")
    return found


async def reload_until(
    page: Page, url: str, shown: Callable[[Page], Locator], timeout: float = 60
) -> Locator:
    """Load ``url`` until ``shown(page)`` is on it (a feed page changes only on a new render)."""
    async with asyncio.timeout(timeout):
        while True:
            await page.goto(url)
            if await shown(page).count():
                return shown(page)
            await asyncio.sleep(0.25)  # poll interval while waiting for the render


async def test_an_editor_publishes_a_page_and_approves_its_translation(
    stack: System, desk: Page, screenshots: Screenshots, story: dict[str, Any]
) -> None:
    base = stack.url("ingest")
    page = desk

    # Signing in: a desk page without the cookie leads to the form.
    await page.goto(f"{base}/desk/articles")
    await expect(page).to_have_url(re.compile(r"/desk/login\?next=/desk/articles$"))
    key_field = page.get_by_label("Editor key")
    await expect(key_field).to_have_attribute("type", "password")
    await screenshots.take(page, "desk-login")
    await key_field.fill("cfk_not_a_key")
    await key_field.press("Enter")  # the keyboard is enough
    await expect(page.get_by_role("alert")).to_contain_text("this editor key is not valid")
    await page.get_by_label("Editor key").fill(stack.keys["mashhad"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/desk/articles$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Articles of mashhad")

    # Pasting the page and previewing what ingest extracts: nothing is sent yet.
    await page.get_by_role("navigation").get_by_role("link", name="New article").click()
    await page.get_by_label("Page or article").fill(SAMPLE.read_text(encoding="utf-8"))
    await page.get_by_text("More: original address, date, news code, subjects").click()
    await page.get_by_label("Subjects").fill("city diplomacy")
    await page.get_by_role("button", name="Preview extraction").click()
    preview = page.locator("#preview")
    await expect(preview.locator(".headline")).to_have_text(HEADLINE)
    await expect(preview.locator(".published time")).to_have_text(JALALI)
    await expect(preview.locator(".code")).to_have_text("2212303")
    await expect(preview).to_contain_text("A new article.")
    body = preview.locator(".body")
    await expect(body).to_contain_text("به گزارش خبرگزاری برنا از خراسان رضوی")
    assert "کد خبر" not in await body.inner_text()  # page furniture left out
    assert await direction(body) == "rtl" and await direction(preview.locator(".headline")) == "rtl"
    await screenshots.take(page, "desk-compose-preview")

    # Publishing: the list shows it, then each language as the translations come in.
    await page.get_by_role("button", name="Publish", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/desk/articles\?done=submitted&submitted="))
    await expect(page.get_by_role("status")).to_contain_text("Sent.")
    article_id = parse_qs(urlsplit(page.url).query)["submitted"][0]
    story["article_id"] = article_id
    row = page.locator(f'tr[data-article="{article_id}"]')
    await expect(row).to_be_visible(timeout=SLOW)  # the page refreshes itself
    for lang in ("en", "ar", "ru"):
        state = row.locator(f'.status[data-lang="{lang}"]')
        await expect(state).to_have_text(re.compile(r"^published"), timeout=SLOW)
    assert await direction(row.locator("td.headline a")) == "rtl"
    await screenshots.take(page, "desk-articles")

    # Side by side: Persian on the right-to-left side, the machine English beside it.
    await row.get_by_role("link", name="ar", exact=True).click()
    arabic = page.locator("article.translation-text")
    # Published, as the row says; the page reloads itself once the feed carries it too.
    await expect(arabic.locator("h3")).to_have_text(f"[ar] {HEADLINE}", timeout=SLOW)
    assert await direction(arabic) == "rtl"
    assert await direction(page.get_by_label("Body (Arabic)")) == "rtl"
    await page.goto(f"{base}/desk/articles/{article_id}/translations/en")
    source, english = page.locator("article.source-text"), page.locator("article.translation-text")
    await expect(source.locator("h3")).to_have_text(HEADLINE)
    await expect(english.locator("h3")).to_have_text(f"[en] {HEADLINE}")
    await expect(source.locator("time")).to_have_text(JALALI)
    await expect(english.locator("time")).to_have_text("29 April 2025, 07:21 (UTC+03:30)")
    assert (await direction(source), await direction(english)) == ("rtl", "ltr")
    await expect(page.get_by_text("a machine translation (pseudo)")).to_be_visible()

    # Editing and approving: it becomes the human, reviewed translation in the feeds.
    await page.get_by_label("Headline (English)").fill(APPROVED_HEADLINE)
    await page.get_by_label("Body (English)").fill(APPROVED_BODY)
    await page.get_by_role("button", name="Approve and publish").click()
    await expect(page.get_by_role("status")).to_contain_text("Your translation was sent")
    # The page reloads itself once the feeds carry the approved version.
    await expect(english.locator("h3")).to_have_text(APPROVED_HEADLINE, timeout=SLOW)
    await expect(page.locator("#translation-title")).to_contain_text("human, reviewed")
    await expect(english).to_contain_text("Reviewed by the Mashhad desk.")
    await screenshots.take(page, "desk-compare")
    await page.get_by_role("link", name="The article").click()  # the arrow: aria-hidden
    await expect(page.locator('#translations tr[data-lang="en"] .status')).to_have_text(
        re.compile(r"published · human"), timeout=SLOW
    )


async def test_the_partner_portal_shows_the_approved_translation(
    stack: System,
    partner: Page,
    phone: BrowserContext,
    screenshots: Screenshots,
    story: dict[str, Any],
) -> None:
    base = stack.url("feeds")
    page = partner

    # The directory: every public feed with its subscribe links, a preview, and the OPML.
    await page.goto(f"{base}/feeds")
    await expect(page.get_by_role("heading", level=1)).to_have_text("City news feeds")
    await expect(page.get_by_role("link", name="All feeds as OPML")).to_have_attribute(
        "href", f"{base}/feeds.opml"
    )
    mashhad_fa = page.locator("tr", has=page.locator(f'a[href="{base}/feeds/mashhad/fa.atom"]'))
    assert await direction(mashhad_fa.locator('span[lang="fa"]').first) == "rtl"
    await screenshots.take(page, "portal-directory")

    # The Persian feed: right to left, Jalali dates.
    await mashhad_fa.get_by_role("link", name="Preview").click()
    await expect(page).to_have_url(f"{base}/preview/feeds/mashhad/fa")
    entry = page.locator("li.entry", has_text=HEADLINE)
    await expect(entry).to_be_visible()
    assert await direction(entry) == "rtl"
    assert await direction(entry.locator(".body div")) == "rtl"
    await expect(entry.locator("time")).to_have_text(JALALI)
    await screenshots.take(page, "portal-feed-fa")

    # The same on a phone: one column, nothing wider than the screen.
    small = await phone.new_page()
    await small.goto(f"{base}/preview/feeds/mashhad/fa")
    await expect(small.locator("li.entry", has_text=HEADLINE)).to_be_visible()
    overflow = await small.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    await screenshots.take(small, "portal-feed-fa-phone")
    await small.close()

    # The English feed carries the approved, human translation instead of the machine one.
    english = await reload_until(
        page,
        f"{base}/preview/feeds/mashhad/en",
        lambda p: p.locator("li.entry", has_text=APPROVED_HEADLINE),
    )
    await expect(english).to_contain_text("Human translation, reviewed")
    await expect(english).to_contain_text("Reviewed by the Mashhad desk.")
    await expect(page.locator("li.entry", has_text=f"[en] {HEADLINE}")).to_have_count(0)
    assert await direction(english) == "ltr"
    await screenshots.take(page, "portal-feed-en")

    # A partner's private feed, with its token (Istanbul receives Mashhad in English).
    await page.goto(f"{base}/preview/partners/istanbul/en")
    await expect(page.get_by_label("Feed token")).to_be_visible()  # asks for the token
    await page.get_by_label("Partner", exact=True).fill("istanbul")
    await page.get_by_label("Feed token").fill(stack.partner_tokens["istanbul"])
    await page.get_by_role("button", name="Preview the private feeds").click()
    await expect(page).to_have_url(f"{base}/preview/partners/istanbul")
    await page.get_by_role("link", name="Preview").click()
    private = page.locator("li.entry", has_text=APPROVED_HEADLINE)
    await expect(private).to_contain_text("Human translation, reviewed")
    await screenshots.take(page, "portal-partner-en")
    # Kazan's private Persian feed (it wants "city diplomacy" from the Metropolis network).
    await page.goto(f"{base}/feeds")
    await page.get_by_label("Partner", exact=True).fill("kazan")
    await page.get_by_label("Feed token").fill(stack.partner_tokens["kazan"])
    await page.get_by_role("button", name="Preview the private feeds").click()
    await page.locator(f'a[href="{base}/preview/partners/kazan/fa"]').click()
    kazan = page.locator("li.entry", has_text=HEADLINE)
    await expect(kazan).to_be_visible()
    assert await direction(kazan) == "rtl"


async def test_a_correction_and_a_withdrawal_through_the_desk_reach_the_feeds(
    stack: System, desk: Page, partner: Page, screenshots: Screenshots, story: dict[str, Any]
) -> None:
    article_id = story["article_id"]
    desk_url = stack.url("ingest", f"/desk/articles/{article_id}")
    feed_url = stack.url("feeds", "/preview/feeds/mashhad/fa")
    page = desk

    await page.goto(desk_url)
    headline = page.get_by_label("Headline", exact=True)
    await expect(headline).to_have_value(HEADLINE)
    assert await direction(headline) == "rtl"
    await headline.fill(CORRECTED)
    await page.get_by_role("button", name="Send the correction").click()
    await expect(page.get_by_role("status")).to_contain_text("Correction sent")
    async with httpx.AsyncClient(timeout=10) as http:
        await await_article(stack, http, "mashhad", article_id, lambda a: a["version"] == 2)
    await reload_until(partner, feed_url, lambda p: p.locator("li.entry", has_text=CORRECTED))

    await page.goto(desk_url)
    await page.get_by_label("Reason (optional, kept with the withdrawal)").fill("duplicate")
    await page.get_by_label("Take this article out of every feed, in every language").check()
    await page.get_by_role("button", name="Withdraw").click()
    await expect(page.get_by_role("status")).to_contain_text("Withdrawal sent")
    await reload_until(page, desk_url, lambda p: p.get_by_text("This article is withdrawn"))
    await reload_until(  # the feed no longer carries it
        partner, feed_url, lambda p: p.locator("h2", has_text="Entries")
    )
    async with asyncio.timeout(60):
        while await partner.locator("li.entry", has_text=CORRECTED).count():
            await asyncio.sleep(0.25)  # poll interval while waiting for the render
            await partner.goto(feed_url)
    listed = await reload_until(
        page,
        stack.url("ingest", "/desk/articles"),
        lambda p: p.locator(f'tr[data-article="{article_id}"] td:nth-child(3) .status-withdrawn'),
    )
    await expect(listed).to_have_text("withdrawn")
    assert all(Path(p).stat().st_size < 1_500_000 for p in screenshots.taken)
