"""The review queue in a real browser, on a stack of its own with a real engine contract.

Translate speaks to a LibreTranslate-compatible server the test controls (tests/support/
lab_engine.py), whose chosen reply for one sentence drops a figure ("۳۰ میلیون زائر" becomes
"3 million pilgrims"). Mashhad's policy is ``hold`` (tests/fixtures/registry.yaml), so the
English translation fails the numbers check and is held: the feeds carry nothing of it. The
editor, with the keyboard only, opens the review queue from the menu, opens the held
translation, sees the figure marked in the Persian source beside the machine English, and
approves it as it is; the partners' English feed then carries it, marked reviewed by an editor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import started_infra
from tests.e2e.conftest import CHROMIUM, Screenshots
from tests.integration.conftest import System, started_system
from tests.support.lab_engine import Lab, running_lab

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HEADLINE = "سفر ۳۰ میلیون زائر به مشهد"
SENTENCE = "۳۰ میلیون زائر در سال گذشته به این شهر آمدند."
THANKS = "شهردار از مردم تشکر کرد."
EN_HEADLINE = "30 million pilgrims travel to Mashhad"
REPLIES = {
    HEADLINE: EN_HEADLINE,
    SENTENCE: "3 million pilgrims came to this city last year.",  # the figure is wrong
    THANKS: "The mayor thanked the people.",
}
SLOW = 60_000  # ms: a state that needs Kafka, translate and a feed render


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab() as lab:
        lab.replies.update({(source, "en"): out for source, out in REPLIES.items()})
        yield lab


@pytest.fixture(scope="module")
def stack(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """This module's own stack (the e2e conftest's, with the lab as the only engine)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make chromium installs Debian's)")
    with (
        started_infra(tmp_path_factory.mktemp("review-stack"), None, None) as infra,
        started_system(
            infra,
            tmp_path_factory.mktemp("review-services"),
            TRANSLATE_ENGINE="libretranslate",
            TRANSLATE_LIBRETRANSLATE_URL=lab.url,
            TRANSLATE_ENGINE_TIMEOUT_SECONDS="5",
        ) as system,
    ):
        yield system


async def focus_by_tab(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus (the keyboard reaches
    it, in the page's tab order), and check that the focus shows."""
    target = page.locator(selector)
    await expect(target).to_have_count(1)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            outline = await target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline not in ("", "none"), f"{selector} shows no focus"
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


async def test_an_editor_approves_a_held_translation_with_the_keyboard(
    stack: System, lab: Lab, desk: Page, screenshots: Screenshots
) -> None:
    base = stack.url("ingest")
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(
            f"{base}/articles",
            json={
                "headline": HEADLINE,
                "body_text": f"{SENTENCE}\n\n{THANKS}",
                "external_id": "77001",
            },
            headers=stack.auth("mashhad"),
        )
        assert resp.status_code == 202, resp.text
        article_id = resp.json()["article_id"]
        async with asyncio.timeout(90):
            while True:  # translated by the lab, checked, held
                shown = (
                    await http.get(f"{base}/articles/{article_id}", headers=stack.auth("mashhad"))
                ).json()
                if shown.get("languages", {}).get("en", {}).get("status") == "held":
                    break
                await asyncio.sleep(0.25)  # poll interval while waiting for the event
    assert SENTENCE in lab.texts("fa", "en")  # the segment as written: the chosen reply was used
    assert "numbers" in {r["check"] for r in shown["languages"]["en"]["reasons"]}

    page = desk
    await page.goto(f"{base}/desk/login")
    await page.get_by_label("Editor key").fill(stack.keys["mashhad"])
    await page.get_by_label("Editor key").press("Enter")
    await expect(page).to_have_url(re.compile(r"/desk/articles$"))

    # The menu counts what waits; the keyboard opens the queue, then the held translation.
    review_link = page.get_by_role("navigation").get_by_role(
        "link", name=re.compile(r"^Review \(\d+\)$")
    )
    await expect(review_link).to_be_visible()
    await focus_by_tab(page, 'nav a[href="/desk/review"]')
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/desk/review$"))
    row = page.locator(f'table.review-queue tr[data-article="{article_id}"][data-lang="en"]')
    await expect(row).to_contain_text("held")
    await expect(row.locator(".checks")).to_contain_text("numbers")
    await screenshots.take(page, "desk-review-queue")
    await focus_by_tab(page, f'tr[data-article="{article_id}"][data-lang="en"] td.headline a')
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/desk/review/{article_id}/en$"))

    # The figure is marked in the Persian source, right to left, beside the machine English.
    failing = page.locator("table.review-pairs tr.failing", has=page.locator("mark"))
    await expect(failing.locator("mark")).to_have_text("۳۰ میلیون")
    source, machine = failing.locator("td.source-segment"), failing.locator("td.machine-segment")
    await expect(machine).to_have_text("3 million pilgrims came to this city last year.")
    await expect(failing.locator("td.reasons")).to_contain_text("numbers")
    directions = [
        await x.evaluate("element => getComputedStyle(element).direction")
        for x in (source, machine)
    ]
    assert directions == ["rtl", "ltr"]
    assert await page.get_by_label("Body (English)").get_attribute("dir") == "ltr"
    await screenshots.take(page, "desk-review-item")

    # Approving it as it is, with the keyboard.
    await focus_by_tab(page, 'button:text-is("Approve as is")')
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/desk/review\?done=approved$"))
    await expect(page.get_by_role("status")).to_contain_text("Approved")
    # The queue updates by itself once the approved translation is back from translate.
    await expect(row).to_have_count(0, timeout=SLOW)

    # The partners' English feed now carries it, marked reviewed.
    feeds = stack.url("feeds")
    async with httpx.AsyncClient(timeout=10) as http, asyncio.timeout(60):
        while True:
            entry = await http.get(f"{feeds}/entries/{article_id}/en.json")
            if entry.status_code == 200 and entry.json()["provenance"].get("reviewed"):
                break
            await asyncio.sleep(0.25)  # poll interval while waiting for the render
    prov = entry.json()["provenance"]
    assert (prov["review"], prov["held"], entry.json()["headline"]) == (
        "approved",
        False,
        EN_HEADLINE,
    )
    await page.goto(f"{feeds}/preview/feeds/mashhad/en")
    item = page.locator("li.entry", has_text=EN_HEADLINE)
    await expect(item).to_contain_text("approved by an editor")
