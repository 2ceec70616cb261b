"""Every page of the desk and the portal in each interface language, in a real browser, checked by
axe-core.

Mashhad's policy is ``review`` here, so every machine translation waits for an editor: an
editor's own English and Russian translations go out (the compare page, the feeds' entries), the
Arabic one stays in the review queue. Then each desk page is opened in Persian and in English,
and each portal page in Persian, English, Arabic and Russian, in a browser context whose locale
is that language (``Accept-Language`` chooses it). On each page: ``<html lang dir>`` (right to
left in Persian and Arabic), the interface's own words in that language (one landmark message
per page, looked up in the service's catalogue), and no serious or critical axe-core violation
(each page's result is printed, and summed up at the end). All pages are seen before a test
fails, so one run lists every page that is wrong. The switch of languages is clicked once on
each side: the choice is remembered across pages. Last, the database stops, and the desk's
outage page is checked the same way.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.async_api import Browser, Page, expect

from services.feeds import pages as portal_pages
from services.ingest.desk import pages as desk_pages
from shared.i18n import Ui
from tests.conftest import started_infra
from tests.e2e.conftest import AXE, CHROMIUM, Screenshots, audit, desktop_tab, severe
from tests.integration.conftest import FIXTURES, System, started_system

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SAMPLE = FIXTURES / "samples" / "mashhad-metropolis-secretary-general.txt"
HUMAN = {
    "en": (
        "Metropolis Secretary General: Mashhad is becoming an international player",
        "The Secretary General of Metropolis, the world association of major metropolises, said "
        "that Mashhad appears to be the centre of city diplomacy in Iran.",
    ),
    "ru": (
        "Генеральный секретарь Metropolis: Мешхед становится международным игроком",
        "Генеральный секретарь Metropolis, всемирной ассоциации крупнейших мегаполисов, заявил, "
        "что центром городской дипломатии в Иране, по всей видимости, становится Мешхед.",
    ),
}
DESK_LANGUAGES = ("fa", "en")
PORTAL_LANGUAGES = ("fa", "en", "ar", "ru")
#: The browser's locale for each interface language (its ``Accept-Language``).
LOCALES = {"fa": "fa-IR", "en": "en-GB", "ar": "ar-EG", "ru": "ru-RU"}
RTL = ("fa", "ar")
SLOW = 90  # s: a state that needs Kafka, translate and a feed render


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """This module's own stack (the e2e conftest's), Mashhad's policy ``review``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make chromium installs Debian's)")
    if not AXE.is_file():
        pytest.skip(f"no axe-core at {AXE} (make axe installs it with npm)")
    registry = yaml.safe_load((FIXTURES / "registry.yaml").read_text(encoding="utf-8"))
    registry["publishers"]["mashhad"]["translation_policy"] = "review"
    policies = tmp_path_factory.mktemp("registry") / "registry.yaml"
    policies.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    with (
        started_infra(tmp_path_factory.mktemp("languages-stack"), None, None) as infra,
        started_system(infra, tmp_path_factory.mktemp("languages-services")) as system,
    ):
        subprocess.run(
            [sys.executable, "-m", "tools.registry", "load", str(policies)],
            env={**os.environ, **system.env},
            check=True,
            capture_output=True,
        )
        system.kill("translate", signal.SIGTERM)  # so that it reads the policy now
        system.start("translate")
        yield system


async def poll(http: httpx.AsyncClient, url: str, done: Any, **kwargs: Any) -> Any:
    """GET ``url`` until ``done(response)`` holds; the last response."""
    async with asyncio.timeout(SLOW):
        while True:
            resp = await http.get(url, **kwargs)
            if done(resp):
                return resp
            await asyncio.sleep(0.25)  # poll interval while waiting for the event


@pytest.fixture(scope="module")
async def story(stack: System) -> dict[str, str]:
    """One article (the sample page): its English and Russian translations the editor's own, in
    the feeds; its Arabic one held for review."""
    base = stack.url("ingest")
    auth = stack.auth("mashhad")
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(  # the page as it is, as the desk's other test pastes it
            f"{base}/articles",
            content=SAMPLE.read_bytes(),
            headers={**auth, "Content-Type": "text/plain; charset=utf-8"},
        )
        assert resp.status_code == 202, resp.text
        article_id = resp.json()["article_id"]
        url = f"{base}/articles/{article_id}"

        def held(r: httpx.Response) -> bool:
            langs = r.json().get("languages", {}) if r.status_code == 200 else {}
            return all(langs.get(x, {}).get("status") == "held" for x in ("en", "ar", "ru"))

        await poll(http, url, held, headers=auth)
        for lang, (headline, body) in HUMAN.items():
            put = await http.put(
                f"{url}/translations/{lang}",
                json={"headline": headline, "body_text": body},
                headers=auth,
            )
            assert put.status_code == 202, put.text
        for lang in ("fa", *HUMAN):
            await poll(http, stack.url("feeds", f"/entries/{article_id}/{lang}.json"), is_ok)
    return {"article_id": article_id}


def is_ok(resp: httpx.Response) -> bool:
    return resp.status_code == 200


@dataclass
class Pages:
    """Checks each page of one interface language the same way and keeps what is wrong, so that
    a test sees every page before it fails."""

    lang: str
    ui: Ui
    problems: list[str] = field(default_factory=list)

    def said(self, msgid: str) -> str:
        """``msgid`` as the interface says it in this language."""
        return self.ui.gettext(msgid)

    async def check(self, page: Page, name: str, *landmarks: str) -> None:
        """``<html lang dir>``, each landmark message on the page in this language, and no
        serious or critical axe-core violation."""
        where = f"{name} ({self.lang}, {page.url})"
        html = page.locator("html")
        lang, direction = await html.get_attribute("lang"), await html.get_attribute("dir")
        wanted = "rtl" if self.lang in RTL else "ltr"
        if (lang, direction) != (self.lang, wanted):
            self.problems.append(f"{where}: <html lang={lang} dir={direction}>")
        shown = await words_of(page)
        for msgid in landmarks:
            text = self.said(msgid)
            if self.lang != "en" and text == msgid:
                self.problems.append(f"{where}: {msgid!r} is not translated")
            elif not message_pattern(text).search(shown):
                self.problems.append(f"{where}: {text!r} (for {msgid!r}) is not on the page")
        self.problems.extend(f"{where}: axe: {v}" for v in severe(await audit(page, name)))


async def words_of(page: Page) -> str:
    """What a person is told on the page: its text and its spoken attributes, spaces collapsed."""
    found: str = await page.evaluate(
        """() => [document.title, document.body.innerText,
                  ...[...document.querySelectorAll("[aria-label], [title], [placeholder], [alt]")]
                     .flatMap(e => ["aria-label", "title", "placeholder", "alt"]
                                   .map(a => e.getAttribute(a) || ""))].join("\\n")"""
    )
    return " ".join(found.split())


def message_pattern(text: str) -> re.Pattern[str]:
    """A translated message as shown, its ``%(name)s`` filled with anything."""
    parts = re.split(r"%\(\w+\)[sd]", " ".join(text.split()))
    return re.compile(".+?".join(re.escape(p) for p in parts))


@asynccontextmanager
async def tab(browser: Browser, lang: str) -> AsyncIterator[Page]:
    async with desktop_tab(browser, LOCALES[lang]) as page:
        yield page


async def sign_in(page: Page, stack: System) -> None:
    await page.goto(stack.url("ingest", "/desk/login"))
    await page.locator("#key").fill(stack.keys["mashhad"])
    await page.locator("#key").press("Enter")
    await expect(page).to_have_url(re.compile(r"/desk/articles$"))


@pytest.mark.parametrize("lang", DESK_LANGUAGES)
async def test_every_desk_page_in_the_language(
    stack: System,
    browser: Browser,
    story: dict[str, str],
    screenshots: Screenshots,
    lang: str,
) -> None:
    article_id = story["article_id"]
    desk = Pages(lang, Ui(lang, desk_pages.LOCALES))
    base = stack.url("ingest", "/desk")
    persian = lang == "fa"
    async with tab(browser, lang) as page:
        await page.goto(f"{base}/articles")  # not signed in: the sign-in form
        await expect(page).to_have_url(re.compile(r"/desk/login"))
        await desk.check(page, "desk-login", "Sign in to the editor desk", "Editor key")
        await sign_in(page, stack)
        row = page.locator(f'tr[data-article="{article_id}"]')
        await expect(row).to_be_visible()
        await desk.check(page, "desk-articles", "Articles of %(publisher)s", "Headline")
        if persian:  # the version, in Persian digits
            await expect(row.locator("td").nth(1)).to_have_text(desk.ui.number(1))
            await screenshots.take(page, "desk-articles-fa")

        await page.goto(f"{base}/compose")
        await page.locator("#content").fill(SAMPLE.read_text(encoding="utf-8"))
        await page.locator('button[name="action"][value="preview"]').click()
        await expect(page.locator("#preview .headline")).to_be_visible()
        await desk.check(page, "desk-compose-preview", "What ingest extracted", "Publish")
        if persian:
            await screenshots.take(page, "desk-compose-preview-fa")

        await page.goto(f"{base}/articles/{article_id}")
        await desk.check(page, "desk-article", "Versions", "Send the correction")

        await page.goto(f"{base}/articles/{article_id}/translations/en")
        await expect(page.locator("article.translation-text h3")).to_have_text(HUMAN["en"][0])
        await desk.check(page, "desk-compare", "%(language)s translation, side by side")
        back = page.locator('main a span[aria-hidden="true"]').first  # pointing the reading way
        await expect(back).to_have_text(desk.ui.back)
        if persian:
            await screenshots.take(page, "desk-compare-fa")

        await page.goto(f"{base}/review")
        await expect(
            page.locator(f'tr[data-article="{article_id}"][data-lang="ar"]')
        ).to_be_visible()
        await desk.check(page, "desk-review-queue", "Review queue")
        await page.goto(f"{base}/review/{article_id}/ar")
        await desk.check(page, "desk-review-item", "Review the %(language)s translation")
        if persian:
            await screenshots.take(page, "desk-review-item-fa")

        missing = await page.goto(f"{base}/articles/no-such-article")
        assert missing is not None and missing.status == 404
        await desk.check(page, "desk-missing", "Nothing to show")
    assert not desk.problems, "\n".join(desk.problems)


@pytest.mark.parametrize("lang", PORTAL_LANGUAGES)
async def test_every_portal_page_in_the_language(
    stack: System,
    browser: Browser,
    story: dict[str, str],
    screenshots: Screenshots,
    lang: str,
) -> None:
    article_id = story["article_id"]
    portal = Pages(lang, Ui(lang, portal_pages.LOCALES))
    base = stack.url("feeds")
    async with tab(browser, lang) as page:
        await page.goto(f"{base}/feeds")
        await expect(page.locator('a[href$="/preview/feeds/mashhad/fa"]')).to_be_visible()
        await portal.check(
            page, "portal-directory", "All feeds as OPML", "Private feeds for partner cities"
        )
        if lang in ("fa", "ar"):
            await screenshots.take(page, f"portal-directory-{lang}")

        for feed in sorted({"fa", "en", lang}):
            await page.goto(f"{base}/preview/feeds/mashhad/{feed}")
            if feed in ("fa", *HUMAN):
                await expect(page.locator("li.entry")).not_to_have_count(0)
            await portal.check(page, f"portal-feed-{feed}", "Subscribe", "Entries")
            if lang == feed == "ru":
                await screenshots.take(page, "portal-feed-ru")

        asked = await page.goto(f"{base}/preview/partners/istanbul/en")  # no token yet
        assert asked is not None and asked.status == 401
        await portal.check(page, "portal-partner-token", "Private feeds of a partner city")
        await page.locator("#partner").fill("istanbul")
        await page.locator("#token").fill(stack.partner_tokens["istanbul"])
        await page.locator("main form button[type=submit]").click()
        await expect(page).to_have_url(f"{base}/preview/partners/istanbul")
        await portal.check(page, "portal-partner", "Forget the token on this device")
        await page.goto(f"{base}/preview/partners/istanbul/en")
        await expect(page.locator("li.entry")).not_to_have_count(0)
        await portal.check(page, "portal-partner-feed", "Forget the token on this device")

        for entry in ("fa", "en"):
            await page.goto(f"{base}/entries/{article_id}/{entry}")
            await portal.check(page, f"portal-entry-{entry}", "Other languages")

        missing = await page.goto(f"{base}/preview/feeds/nobody/fa")
        assert missing is not None and missing.status == 404
        await portal.check(page, "portal-missing-feed", "No such feed")
    assert not portal.problems, "\n".join(portal.problems)


async def test_the_switch_remembers_the_chosen_language(
    stack: System, browser: Browser, story: dict[str, str]
) -> None:
    html = "html"
    # The portal, asked for in English: Persian chosen, then kept on the next page.
    async with tab(browser, "en") as page:
        await page.goto(stack.url("feeds", "/feeds"))
        await expect(page.locator(html)).to_have_attribute("lang", "en")
        await page.locator('nav.switch a[lang="fa"]').click()
        await expect(page).to_have_url(stack.url("feeds", "/feeds"))
        await expect(page.locator(html)).to_have_attribute("dir", "rtl")
        await page.goto(stack.url("feeds", "/preview/feeds/mashhad/en"))
        await expect(page.locator(html)).to_have_attribute("lang", "fa")
        await page.locator('nav.switch a[lang="ru"]').click()  # back to the same page
        await expect(page).to_have_url(stack.url("feeds", "/preview/feeds/mashhad/en"))
        await expect(page.locator(html)).to_have_attribute("lang", "ru")
    # The desk, asked for in Persian (the publisher's language too): English chosen and kept
    # after signing in.
    async with tab(browser, "fa") as page:
        await page.goto(stack.url("ingest", "/desk/login"))
        await expect(page.locator(html)).to_have_attribute("lang", "fa")
        await page.locator('nav.switch a[lang="en"]').click()
        await expect(page.locator(html)).to_have_attribute("dir", "ltr")
        await sign_in(page, stack)
        await expect(page.locator(html)).to_have_attribute("lang", "en")
        await expect(page.locator("header.top button")).to_have_text("Sign out")


async def test_axe_finds_what_a_page_gets_wrong(stack: System, browser: Browser) -> None:
    """The checker is live under the pages' CSP: an image without a text alternative and a
    button without a name, added to a real page, are what it reports (as critical)."""
    async with tab(browser, "fa") as page:
        await page.goto(stack.url("feeds", "/feeds"))
        await page.evaluate(
            """() => document.querySelector("main").insertAdjacentHTML(
                   "afterbegin", '<img src="/assets/pages.css"><button type="button"></button>')"""
        )
        found = await audit(page, "portal-directory-spoiled", summed=False)
    assert {(v["id"], v["impact"]) for v in found} >= {
        ("image-alt", "critical"),
        ("button-name", "critical"),
    }


async def test_the_desk_outage_page_in_each_language(
    stack: System, browser: Browser, story: dict[str, str]
) -> None:
    """The database stops under a signed-in editor: the desk says so in their language."""
    database = stack.infra.database_server
    assert database is not None  # this module started its own
    problems: list[str] = []
    async with tab(browser, "fa") as fa_page, tab(browser, "en") as en_page:
        tabs = {"fa": fa_page, "en": en_page}
        for page in tabs.values():
            await sign_in(page, stack)
        database.stop()
        try:
            for lang, page in tabs.items():
                shown = await page.goto(stack.url("ingest", "/desk/articles"), timeout=60_000)
                assert shown is not None and shown.status in (500, 503), shown and shown.status
                outage = Pages(lang, Ui(lang, desk_pages.LOCALES))
                await outage.check(page, "desk-outage", "Try again shortly")
                problems.extend(outage.problems)
        finally:
            database.start()
    assert not problems, "\n".join(problems)
